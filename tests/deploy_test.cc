// The deployment files agree with the code: every metric and label value the alert rules and
// the Grafana dashboard name is one the processor exports; the configurations in deploy/ parse;
// the Kubernetes probes and ports are the ones the configuration serves.
#include <google/protobuf/struct.pb.h>
#include <google/protobuf/util/json_util.h>
#include <gtest/gtest.h>
#include <yaml-cpp/yaml.h>

#include <fstream>
#include <regex>
#include <set>
#include <sstream>

#include "processor/runtime/config.h"
#include "sinks/prometheus/collector.h"
#include "sinks/web/web_config.h"

namespace kpi {
namespace {

std::string Read(const std::string& relative) {
  std::ifstream in(std::string(KPI_SOURCE_DIR) + "/" + relative);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// The exposition of a probe with every family populated.
std::string Exposition() {
  sinks::RuntimeProbe probe({"contacts"});
  const Date wed = Date::FromYmd(2026, 3, 4);
  probe.Assigned({Row{Kpi::kContacts, wed.WeekStart(), "all", 1, 0, 1}}, wed);
  probe.EventConsumed("contacts", Kind::kContact);
  sinks::StatusReport status;
  status.partitions = {{"contacts", 0, 0}};
  probe.Status(status, 1);
  probe.Committed(0.001, std::vector<int64_t>{1}, 2, {}, wed);
  return sinks::SerializeText(sinks::ProcessorCollector(probe, {}, nullptr).Collect());
}

std::set<std::string> ExportedNames(const std::string& text) {
  std::set<std::string> names;
  const std::regex type_line("# TYPE ([a-z_0-9]+) (\\w+)");
  for (std::sregex_iterator it(text.begin(), text.end(), type_line), end; it != end; ++it) {
    const std::string name = (*it)[1];
    names.insert(name);
    if ((*it)[2] == "histogram") {
      for (const char* suffix : {"_bucket", "_sum", "_count"}) names.insert(name + suffix);
    }
  }
  return names;
}

// Every kpi_* metric and every kpi="..." / backlog="..." / reason="..." value in `expr`.
void CheckExpression(const std::string& where, const std::string& expr,
                     const std::set<std::string>& names) {
  const std::regex metric("\\b(kpi_[a-z_0-9]+)\\b");
  for (std::sregex_iterator it(expr.begin(), expr.end(), metric), end; it != end; ++it) {
    EXPECT_TRUE(names.contains((*it)[1])) << where << " names " << (*it)[1] << ", not exported";
  }
  const std::regex kpi_value("\\bkpi=\"([a-z_0-9]+)\"");
  for (std::sregex_iterator it(expr.begin(), expr.end(), kpi_value), end; it != end; ++it) {
    EXPECT_TRUE(KpiFromName((*it)[1].str()).has_value())
        << where << " names KPI " << (*it)[1] << ", not in KPIS.md or KPIS-2.md";
  }
  // Backlogs: the exposition has one sample of each, whatever the table holds.
  static const std::string exposition = Exposition();
  const std::regex backlog_value("\\bbacklog=\"([a-z_0-9]+)\"");
  for (std::sregex_iterator it(expr.begin(), expr.end(), backlog_value), end; it != end; ++it) {
    EXPECT_NE(exposition.find("backlog=\"" + (*it)[1].str() + "\""), std::string::npos)
        << where << " names backlog " << (*it)[1] << ", not exported";
  }
  const std::regex period("\\bperiod=\"([a-z]+)\"");
  for (std::sregex_iterator it(expr.begin(), expr.end(), period), end; it != end; ++it) {
    EXPECT_TRUE((*it)[1] == "current" || (*it)[1] == "previous") << where;
  }
}

TEST(DeployTest, AlertRulesNameOnlyExportedMetrics) {
  const std::set<std::string> names = ExportedNames(Exposition());
  ASSERT_TRUE(names.contains("kpi_backlog"));
  const YAML::Node rules = YAML::Load(Read("deploy/prometheus/alerts.yml"));
  size_t count = 0;
  for (const auto& group : rules["groups"]) {
    for (const auto& rule : group["rules"]) {
      CheckExpression(rule["alert"].as<std::string>(), rule["expr"].as<std::string>(), names);
      ++count;
    }
  }
  EXPECT_EQ(count, 19u);
}

TEST(DeployTest, AMisnamedMetricIsCaught) {
  const std::set<std::string> names = ExportedNames(Exposition());
  EXPECT_FALSE(names.contains("kpi_backlogs"));
  EXPECT_TRUE(names.contains("kpi_commit_duration_seconds_bucket"));
}

void CollectExpressions(const google::protobuf::Value& v, std::vector<std::string>& out) {
  if (v.has_struct_value()) {
    for (const auto& [k, child] : v.struct_value().fields()) {
      if (k == "expr" && child.has_string_value()) out.push_back(child.string_value());
      CollectExpressions(child, out);
    }
  } else if (v.has_list_value()) {
    for (const auto& child : v.list_value().values()) CollectExpressions(child, out);
  }
}

TEST(DeployTest, DashboardNamesOnlyExportedMetrics) {
  google::protobuf::Value dashboard;
  ASSERT_TRUE(google::protobuf::util::JsonStringToMessage(Read("deploy/grafana/kpi-processor.json"),
                                                          &dashboard)
                  .ok());
  std::vector<std::string> exprs;
  CollectExpressions(dashboard, exprs);
  EXPECT_GT(exprs.size(), 30u);
  const std::set<std::string> names = ExportedNames(Exposition());
  for (const std::string& e : exprs) CheckExpression("dashboard", e, names);
}

TEST(DeployTest, ShippedConfigurationsParse) {
  const auto example = runtime::ParseConfig(Read("deploy/kpi-processor.example.yaml"), {});
  ASSERT_TRUE(example.has_value()) << example.error();
  EXPECT_EQ(example->metrics_address, "127.0.0.1:9464");

  const YAML::Node configmap = YAML::Load(Read("deploy/k8s/configmap.yaml"));
  // The web configuration file is mounted from a Secret in the cluster: checked below instead.
  const auto k8s_text = configmap["data"]["kpi-processor.yaml"].as<std::string>();
  const auto k8s = runtime::ParseConfig(k8s_text, {"KPI_WEB_CONFIG_FILE="});
  ASSERT_TRUE(k8s.has_value()) << k8s.error();
  // The StatefulSet's ports and probes are the ones the configuration serves.
  const YAML::Node set = YAML::Load(Read("deploy/k8s/statefulset.yaml"));
  const YAML::Node container = set["spec"]["template"]["spec"]["containers"][0];
  std::map<std::string, int> ports;
  for (const auto& p : container["ports"])
    ports[p["name"].as<std::string>()] = p["containerPort"].as<int>();
  EXPECT_EQ(k8s->metrics_address, "0.0.0.0:" + std::to_string(ports["metrics"]));
  EXPECT_EQ(k8s->http_address, "0.0.0.0:" + std::to_string(ports["http"]));
  EXPECT_EQ(container["readinessProbe"]["httpGet"]["path"].as<std::string>(), "/readyz");
  EXPECT_EQ(container["livenessProbe"]["httpGet"]["path"].as<std::string>(), "/healthz");
  EXPECT_EQ(
      set["spec"]["template"]["metadata"]["annotations"]["prometheus.io/port"].as<std::string>(),
      std::to_string(ports["metrics"]));
  EXPECT_EQ(container["volumeMounts"][0]["mountPath"].as<std::string>(), k8s->state_path);
  // Both ports listen beyond the pod, so they are secured: the web configuration is where the
  // Secret is mounted, its certificate where the other Secret is, the probes speak TLS and
  // Prometheus scrapes over TLS with a password.
  std::map<std::string, std::string> mounts;
  for (const auto& m : container["volumeMounts"]) {
    mounts[m["name"].as<std::string>()] = m["mountPath"].as<std::string>();
  }
  EXPECT_EQ(YAML::Load(k8s_text)["web"]["config_file"].as<std::string>(),
            mounts["web"] + "/web.yml");
  const auto web = sinks::ParseWebConfig(Read("deploy/k8s/web.example.yml"), mounts["web"]);
  ASSERT_TRUE(web.has_value()) << web.error();
  ASSERT_TRUE(web->tls.has_value());
  EXPECT_EQ(web->tls->cert_file, mounts["web-tls"] + "/tls.crt");
  EXPECT_EQ(web->tls->key_file, mounts["web-tls"] + "/tls.key");
  EXPECT_TRUE(web->basic_auth_users.contains("prometheus"));
  EXPECT_EQ(container["readinessProbe"]["httpGet"]["scheme"].as<std::string>(), "HTTPS");
  EXPECT_EQ(container["livenessProbe"]["httpGet"]["scheme"].as<std::string>(), "HTTPS");
  EXPECT_EQ(
      set["spec"]["template"]["metadata"]["annotations"]["prometheus.io/scheme"].as<std::string>(),
      "https");
  const YAML::Node scrape =
      YAML::Load(Read("deploy/k8s/prometheus-scrape.yaml"))["scrape_configs"][0];
  EXPECT_EQ(scrape["scheme"].as<std::string>(), "https");
  EXPECT_EQ(scrape["basic_auth"]["username"].as<std::string>(), "prometheus");
  // Several replicas need the scaled-out mode: without it each would own its tasks' output alone.
  EXPECT_GT(set["spec"]["replicas"].as<int>(), 1);
  EXPECT_TRUE(k8s->scale.enabled);
  EXPECT_FALSE(example->scale.enabled);  // one instance needs nothing more than before
}

}  // namespace
}  // namespace kpi
