# Sourced by tools/install-deps.sh and tools/kafka/cluster.sh: where the Kafka jars are kept.
# KPI_KAFKA_HOME moves the cache; by default it is outside the source tree, shared by clones.
KPI_KAFKA_VERSION=4.4.0
KPI_KAFKA_HOME="${KPI_KAFKA_HOME:-${XDG_CACHE_HOME:-$HOME/.cache}/kpi-processor/kafka-$KPI_KAFKA_VERSION}"
KPI_KAFKA_LIB="$KPI_KAFKA_HOME/lib"
# A librdkafka >= 2.6.1 (PyPI's confluent-kafka wheel ships one) for the SCRAM test only.
KPI_SCRAM_LIBRDKAFKA_FROM="confluent-kafka==2.16.1"
KPI_SCRAM_LIBRDKAFKA_DIR="${KPI_KAFKA_HOME%/*}/librdkafka-confluent-kafka-2.16.1"
