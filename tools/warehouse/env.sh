# Sourced by tools/install-deps.sh and tools/warehouse/*.sh: where the Kafka Connect worker and the
# JDBC sink connector's jars are kept (outside the source tree, shared by clones, like Kafka's).
KPI_CONNECT_VERSION=4.4.0
KPI_DEBEZIUM_VERSION=3.6.0.Final
KPI_CONNECT_HOME="${KPI_CONNECT_HOME:-${XDG_CACHE_HOME:-$HOME/.cache}/kpi-processor/connect-$KPI_CONNECT_VERSION}"
KPI_CONNECT_LIB="$KPI_CONNECT_HOME/lib"                      # the worker's classpath
KPI_CONNECT_PLUGINS="$KPI_CONNECT_HOME/plugins"              # plugin.path
KPI_CONNECT_JDBC_PLUGIN="$KPI_CONNECT_PLUGINS/debezium-connector-jdbc-$KPI_DEBEZIUM_VERSION"
