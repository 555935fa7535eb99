package kpi.peer;

import java.util.HashMap;
import java.util.Map;
import java.util.Properties;
import java.util.concurrent.CountDownLatch;
import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.common.serialization.Serde;
import org.apache.kafka.common.serialization.Serdes;
import org.apache.kafka.common.utils.Bytes;
import org.apache.kafka.streams.KafkaStreams;
import org.apache.kafka.streams.KeyValue;
import org.apache.kafka.streams.StreamsBuilder;
import org.apache.kafka.streams.StreamsConfig;
import org.apache.kafka.streams.kstream.Consumed;
import org.apache.kafka.streams.kstream.Grouped;
import org.apache.kafka.streams.kstream.KTable;
import org.apache.kafka.streams.kstream.Materialized;
import org.apache.kafka.streams.kstream.Produced;
import org.apache.kafka.streams.state.KeyValueStore;

/**
 * Five of the processor's KPIs as a Kafka Streams application, written as the Kafka Streams
 * documentation teaches: each input record's current version is a KTable (an aggregate that keeps
 * the newest {@code recorded_at}, deletes included), and each KPI a KTable aggregation over it
 * with an adder and a subtractor, so a correction, a delete or a stale version moves exactly what
 * it must. Default RocksDB stores, default caching and commit interval.
 *
 * <ul>
 *   <li>{@code contacts}, {@code referrals}: distinct children with a live record per week, under
 *       {@code all} (a per-(child, week) count, then the weeks with a count above zero);
 *   <li>{@code assessments_started}, {@code assessments_completed}: live assessments per week of
 *       their start or completion date, under {@code all};
 *   <li>{@code attendance_rate}: sessions present or in approved activity over possible sessions,
 *       per week of the mark's date, under {@code all} and {@code school=<urn>}.
 * </ul>
 *
 * Rows go to the output topic as the processor's: key {@code kpi|week_start|dimension}, value
 * {@code {"count":N,"base":N}}.
 *
 * <p>Usage: {@code PeerJob --bootstrap HOST:PORT --application-id ID --state-dir DIR
 * [--guarantee exactly_once_v2|at_least_once] [--output TOPIC] [--threads N]}
 */
public final class PeerJob {
  private static final Serde<String> STRING = Serdes.String();
  private static final Serde<Long> LONG = Serdes.Long();
  private static final String NONE = "";

  private PeerJob() {}

  public static void main(String[] args) throws InterruptedException {
    final Map<String, String> a = Args.parse(args, "bootstrap", "application-id", "state-dir");
    final Properties p = new Properties();
    p.put(StreamsConfig.APPLICATION_ID_CONFIG, a.get("application-id"));
    p.put(StreamsConfig.BOOTSTRAP_SERVERS_CONFIG, a.get("bootstrap"));
    p.put(StreamsConfig.STATE_DIR_CONFIG, a.get("state-dir"));
    p.put(StreamsConfig.PROCESSING_GUARANTEE_CONFIG,
        a.getOrDefault("guarantee", StreamsConfig.EXACTLY_ONCE_V2));
    p.put(StreamsConfig.NUM_STREAM_THREADS_CONFIG, a.getOrDefault("threads", "1"));
    p.put(StreamsConfig.consumerPrefix(ConsumerConfig.AUTO_OFFSET_RESET_CONFIG), "earliest");
    final KafkaStreams streams =
        new KafkaStreams(topology(a.getOrDefault("output", "peer.results")).build(), p);
    final CountDownLatch stopped = new CountDownLatch(1);
    streams.setStateListener((now, before) -> {
      if (now == KafkaStreams.State.RUNNING) System.out.println("peer: running");
      if (now == KafkaStreams.State.ERROR || now == KafkaStreams.State.NOT_RUNNING) {
        stopped.countDown();
      }
    });
    Runtime.getRuntime().addShutdownHook(new Thread(streams::close));
    streams.start();
    stopped.await();
    System.err.println("peer: stopped (" + streams.state() + "), " + Events.dropped + " dropped");
    System.exit(streams.state() == KafkaStreams.State.ERROR ? 1 : 0);
  }

  static StreamsBuilder topology(String output) {
    final StreamsBuilder b = new StreamsBuilder();
    final Produced<String, String> out = Produced.with(STRING, STRING);

    for (final String kind : new String[] {"contact", "referral"}) {
      final String kpi = kind + "s";
      current(b, kpi, kind)
          .groupBy((id, v) -> KeyValue.pair(Events.child(id) + Events.SEP + Events.field(v, 3),
                                            Events.live(v) ? 1L : 0L),
              Grouped.with(kpi + "-by-child-week", STRING, LONG))
          .reduce(Long::sum, (agg, old) -> agg - old, longs(kpi + "-child-week"))
          .groupBy((key, n) -> KeyValue.pair(
                       Events.rowKey(kpi, key.substring(key.indexOf(Events.SEP) + 1), "all"),
                       n > 0 ? 1L : 0L),
              Grouped.with(kpi + "-by-week", STRING, LONG))
          .reduce(Long::sum, (agg, old) -> agg - old, longs(kpi + "-week"))
          .toStream()
          .filter((k, n) -> n != null)
          .mapValues(n -> Events.row(n, 0))
          .to(output, out);
    }

    final KTable<String, String> assessments = current(b, "assessments", "assessment");
    for (final int field : new int[] {3, 4}) {
      final String kpi = field == 3 ? "assessments_started" : "assessments_completed";
      assessments
          .groupBy((id, v) -> {
                final String week = Events.field(v, field);
                final boolean counts = Events.live(v) && !week.isEmpty();
                return KeyValue.pair(week.isEmpty() ? NONE : Events.rowKey(kpi, week, "all"),
                                     counts ? 1L : 0L);
              },
              Grouped.with(kpi + "-by-week", STRING, LONG))
          .reduce(Long::sum, (agg, old) -> agg - old, longs(kpi))
          .toStream()
          .filter((k, n) -> !k.equals(NONE) && n != null)
          .mapValues(n -> Events.row(n, 0))
          .to(output, out);
    }

    final KTable<String, String> marks = current(b, "attendance", "attendance");
    for (final boolean bySchool : new boolean[] {false, true}) {
      final String name = bySchool ? "attendance-school" : "attendance-all";
      marks
          .groupBy((id, v) -> {
                final String dimension = bySchool ? "school=" + Events.field(v, 3) : "all";
                final String cls = Events.field(v, 5);
                final boolean live = Events.live(v);
                final long count = live && cls.equals("P") ? 1 : 0;
                final long base = live && !cls.equals("N") ? 1 : 0;
                return KeyValue.pair(
                    Events.rowKey("attendance_rate", Events.field(v, 4), dimension),
                    count + "," + base);
              },
              Grouped.with(name + "-by-week", STRING, STRING))
          .reduce((agg, v) -> Pair.add(agg, v, 1), (agg, old) -> Pair.add(agg, old, -1),
              Materialized.<String, String, KeyValueStore<Bytes, byte[]>>as(name)
                  .withKeySerde(STRING)
                  .withValueSerde(STRING))
          .toStream()
          .filter((k, v) -> v != null)
          .mapValues(Pair::row)
          .to(output, out);
    }
    return b;
  }

  /** The current version of each record of {@code kind} on {@code topic}, by identity. */
  private static KTable<String, String> current(StreamsBuilder b, String topic, String kind) {
    return b.stream(topic, Consumed.with(STRING, STRING))
        .flatMap((child, json) -> Events.version(kind, json))
        .groupByKey(Grouped.with(topic + "-by-record", STRING, STRING))
        .aggregate(() -> "", (id, next, current) -> Events.replaces(next, current) ? next : current,
            Materialized.<String, String, KeyValueStore<Bytes, byte[]>>as(topic + "-current")
                .withKeySerde(STRING)
                .withValueSerde(STRING));
  }

  private static Materialized<String, Long, KeyValueStore<Bytes, byte[]>> longs(String name) {
    return Materialized.<String, Long, KeyValueStore<Bytes, byte[]>>as(name)
        .withKeySerde(STRING)
        .withValueSerde(LONG);
  }

  /** (count, base) as "count,base". */
  static final class Pair {
    private Pair() {}

    static String add(String agg, String v, int sign) {
      final String[] x = agg.split(",");
      final String[] y = v.split(",");
      return (Long.parseLong(x[0]) + sign * Long.parseLong(y[0])) + ","
          + (Long.parseLong(x[1]) + sign * Long.parseLong(y[1]));
    }

    static String row(String v) {
      final String[] x = v.split(",");
      return Events.row(Long.parseLong(x[0]), Long.parseLong(x[1]));
    }
  }

  /** --name value pairs; the required names must be given. */
  static final class Args {
    private Args() {}

    static Map<String, String> parse(String[] args, String... required) {
      final Map<String, String> m = new HashMap<>();
      for (int i = 0; i + 1 < args.length; i += 2) {
        if (!args[i].startsWith("--")) throw new IllegalArgumentException("expected --name: " + args[i]);
        m.put(args[i].substring(2), args[i + 1]);
      }
      if (args.length % 2 != 0) throw new IllegalArgumentException("a --name without a value");
      for (final String r : required) {
        if (!m.containsKey(r)) throw new IllegalArgumentException("--" + r + " is required");
      }
      return m;
    }
  }
}
