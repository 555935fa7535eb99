package kpi.peer;

import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import java.util.TreeMap;
import java.util.concurrent.ExecutionException;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Collectors;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.AdminClientConfig;
import org.apache.kafka.clients.admin.OffsetSpec;
import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.consumer.OffsetAndMetadata;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.serialization.StringDeserializer;

/**
 * Waits until a consumer group (the peer's application id, or the processor's group) has
 * committed every input partition to its end and the output topic has been quiet for a while,
 * then writes the output topic's final table (the last value of each key, read committed) as the
 * processor's replay NDJSON, sorted, without 0/0 rows. Prints the output's records and the time of
 * its last record (the broker's append time when the topic has message.timestamp.type
 * LogAppendTime), so that a benchmark can take "events/s to the last output".
 *
 * <p>Usage: {@code Drain --bootstrap HOST:PORT (--group ID | --metrics-url URL) --inputs T1,T2
 * --output TOPIC --table FILE [--quiet-ms 3000] [--timeout-s 600] [--kpis K1,K2]}: with --kpis
 * only those KPIs' rows are written. kpi-processor keeps its offsets in its state, not in a
 * consumer group: for it, --metrics-url names its /metrics, whose kpi_consumer_lag must be 0 on
 * every input partition. Exit 1 on a timeout, naming what it waited for.
 */
public final class Drain {
  private static final Pattern KEY = Pattern.compile("([^|]*)\\|([^|]*)\\|(.*)");
  private static final Pattern COUNT = Pattern.compile("\"count\":\"?(-?\\d+)");
  private static final Pattern BASE = Pattern.compile("\"base\":\"?(-?\\d+)");

  private Drain() {}

  public static void main(String[] args) throws Exception {
    final Map<String, String> a = PeerJob.Args.parse(args, "bootstrap", "inputs", "output", "table");
    if (!a.containsKey("group") && !a.containsKey("metrics-url")) {
      throw new IllegalArgumentException("--group or --metrics-url is required");
    }
    final long quietMs = Long.parseLong(a.getOrDefault("quiet-ms", "3000"));
    final long deadline =
        System.currentTimeMillis() + 1000 * Long.parseLong(a.getOrDefault("timeout-s", "600"));
    final List<String> inputs = Arrays.asList(a.get("inputs").split(","));
    final List<String> kpis =
        a.containsKey("kpis") ? Arrays.asList(a.get("kpis").split(",")) : List.of();
    final Properties ap = new Properties();
    ap.put(AdminClientConfig.BOOTSTRAP_SERVERS_CONFIG, a.get("bootstrap"));
    final Properties cp = new Properties();
    cp.put(ConsumerConfig.BOOTSTRAP_SERVERS_CONFIG, a.get("bootstrap"));
    cp.put(ConsumerConfig.ISOLATION_LEVEL_CONFIG, "read_committed");
    cp.put(ConsumerConfig.AUTO_OFFSET_RESET_CONFIG, "earliest");
    cp.put(ConsumerConfig.ENABLE_AUTO_COMMIT_CONFIG, "false");
    final Map<String, String> table = new TreeMap<>();
    long records = 0;
    long lastTimestamp = 0;
    try (Admin admin = Admin.create(ap);
         KafkaConsumer<String, String> consumer =
             new KafkaConsumer<>(cp, new StringDeserializer(), new StringDeserializer())) {
      final List<TopicPartition> out = consumer.partitionsFor(a.get("output")).stream()
          .map(p -> new TopicPartition(p.topic(), p.partition()))
          .collect(Collectors.toList());
      consumer.assign(out);
      consumer.seekToBeginning(out);
      long lastChange = System.currentTimeMillis();
      long lastCheck = 0;
      long caughtUpSince = 0;
      String waiting = "nothing checked yet";
      while (true) {
        for (ConsumerRecord<String, String> r : consumer.poll(Duration.ofMillis(100))) {
          ++records;
          lastTimestamp = Math.max(lastTimestamp, r.timestamp());
          lastChange = System.currentTimeMillis();
          if (r.key() == null) continue;
          if (r.value() == null) {
            table.remove(r.key());
          } else {
            table.put(r.key(), r.value());
          }
        }
        final long now = System.currentTimeMillis();
        if (now - lastCheck >= 500) {
          lastCheck = now;
          waiting = a.containsKey("group") ? lag(admin, a.get("group"), inputs)
                                           : processorLag(admin, a.get("metrics-url"), inputs);
          if (waiting.isEmpty()) {
            final Map<TopicPartition, Long> ends = consumer.endOffsets(out);
            for (TopicPartition tp : out) {
              if (consumer.position(tp) < ends.get(tp)) waiting = "the output topic read to its end";
            }
          }
          if (!waiting.isEmpty()) caughtUpSince = 0;
          if (waiting.isEmpty() && caughtUpSince == 0) caughtUpSince = now;
          if (waiting.isEmpty() && (now - lastChange < quietMs || now - caughtUpSince < quietMs)) {
            waiting = "the output quiet for " + quietMs + " ms after the input was read";
          }
          if (waiting.isEmpty()) break;
        }
        if (now > deadline) {
          System.err.println("drain: timed out waiting for " + waiting);
          System.exit(1);
        }
      }
    }
    final List<String> lines = new ArrayList<>();
    for (Map.Entry<String, String> e : table.entrySet()) {
      final Matcher k = KEY.matcher(e.getKey());
      final Matcher c = COUNT.matcher(e.getValue());
      final Matcher b = BASE.matcher(e.getValue());
      if (!k.matches() || !c.find()) continue;
      if (!kpis.isEmpty() && !kpis.contains(k.group(1))) continue;
      final long count = Long.parseLong(c.group(1));
      final long base = b.find() ? Long.parseLong(b.group(1)) : 0;
      if (count == 0 && base == 0) continue;
      lines.add(String.format("{\"kpi\":\"%s\",\"week_start\":\"%s\",\"dimension\":\"%s\","
              + "\"count\":%d,\"base\":%d}",
          k.group(1), k.group(2), k.group(3), count, base));
    }
    lines.sort(null);
    Files.write(Path.of(a.get("table")), lines, StandardCharsets.UTF_8);
    System.out.println("drain: " + records + " output records, " + lines.size()
        + " rows, last output at " + lastTimestamp);
  }

  /** What kpi-processor still has to read, from its kpi_consumer_lag ("" when nothing). */
  private static String processorLag(Admin admin, String url, List<String> inputs)
      throws InterruptedException {
    try {
      int partitions = 0;
      for (var d : admin.describeTopics(inputs).allTopicNames().get().values()) {
        partitions += d.partitions().size();
      }
      final HttpResponse<String> r = HttpClient.newHttpClient().send(
          HttpRequest.newBuilder(URI.create(url)).build(), HttpResponse.BodyHandlers.ofString());
      int seen = 0;
      double behind = 0;
      for (String line : r.body().split("\n")) {
        if (!line.startsWith("kpi_consumer_lag{")) continue;
        ++seen;
        behind += Double.parseDouble(line.substring(line.lastIndexOf(' ') + 1));
      }
      if (seen < partitions) return "kpi-processor assigned " + seen + " of " + partitions + " partitions";
      return behind > 0 ? "kpi-processor to read its input (" + (long) behind + " behind)" : "";
    } catch (ExecutionException | java.io.IOException e) {
      return "kpi-processor's lag (" + e + ")";
    }
  }

  /**
   * What the group still has to commit ("" when nothing): the input topics to their ends, and its
   * repartition topics (a Kafka Streams application's, named GROUP-...-repartition) to their ends
   * or to one before it (the marker of the last transaction under exactly_once_v2, which a
   * consumer's committed position can stop before; the quiet period covers the rest).
   */
  private static String lag(Admin admin, String group, List<String> inputs)
      throws InterruptedException {
    try {
      final Map<TopicPartition, OffsetAndMetadata> committed =
          admin.listConsumerGroupOffsets(group).partitionsToOffsetAndMetadata().get();
      final Map<TopicPartition, OffsetSpec> want = new HashMap<>();
      final List<String> topics = new ArrayList<>(inputs);
      for (String t : admin.listTopics().names().get()) {
        if (t.startsWith(group + "-") && t.endsWith("-repartition")) topics.add(t);
      }
      for (var d : admin.describeTopics(topics).allTopicNames().get().values()) {
        for (var p : d.partitions()) {
          want.put(new TopicPartition(d.name(), p.partition()), OffsetSpec.latest());
        }
      }
      long behind = 0;
      for (var e : admin.listOffsets(want).all().get().entrySet()) {
        final OffsetAndMetadata c = committed.get(e.getKey());
        long lag = e.getValue().offset() - (c == null ? 0 : c.offset());
        if (!inputs.contains(e.getKey().topic()) && lag == 1) lag = 0;
        behind += Math.max(0, lag);
      }
      return behind > 0 ? "group " + group + " to commit what it reads (" + behind + " behind)" : "";
    } catch (ExecutionException e) {
      return "the group's offsets (" + e.getCause() + ")";
    }
  }
}
