package kpi.peer;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.time.DayOfWeek;
import java.time.Instant;
import java.time.LocalDate;
import java.time.OffsetDateTime;
import java.time.format.DateTimeParseException;
import java.time.temporal.TemporalAdjusters;
import java.util.List;
import java.util.Set;
import org.apache.kafka.streams.KeyValue;

/**
 * The peer's reading of an input record (docs: EVENTS.md): the JSON {@code Event} of a contact,
 * referral, assessment or attendance mark becomes a version of its record, keyed by the record's
 * identity. A version is a string of fields joined by {@link #SEP}: recorded_at seconds and nanos,
 * deleted, then the fields the five KPIs need. A record that is not of the wanted kind, or that
 * lacks what those KPIs read, is dropped and counted (the equality check runs on a stream
 * without malformed records; the processor dead-letters them).
 */
final class Events {
  static final String SEP = "\u001f";
  private static final ObjectMapper JSON = new ObjectMapper();
  private static final Set<String> PRESENT = Set.of("/", "\\", "L", "K", "V", "P", "W", "B", "J");
  private static final Set<String> ABSENT =
      Set.of("C", "C1", "C2", "E", "I", "J1", "M", "R", "S", "T", "H", "F", "G", "N", "O", "U");
  private static final Set<String> NOT_COUNTED =
      Set.of("D", "X", "Y", "Y1", "Y2", "Y3", "Y4", "Y5", "Y6", "Y7", "Q", "Z", "#", "-", "");

  static long dropped = 0;

  private Events() {}

  /** The versions (zero or one) of a record of {@code kind} in {@code json}, by identity. */
  static List<KeyValue<String, String>> version(String kind, String json) {
    try {
      final JsonNode e = JSON.readTree(json);
      final String eventId = text(e, "eventId", "event_id");
      final String child = text(e, "childId", "child_id");
      final String recorded = text(e, "recordedAt", "recorded_at");
      final JsonNode body = e.get(kind);
      if (eventId == null || child == null || recorded == null || body == null
          || !body.isObject()) {
        return drop();
      }
      final Instant at = instant(recorded);
      final boolean deleted = e.path("deleted").asBoolean(false);
      final String head = at.getEpochSecond() + SEP + at.getNano() + SEP + (deleted ? "1" : "0");
      switch (kind) {
        case "contact":
        case "referral": {
          final String date = text(body, kind + "Date", kind + "_date");
          if (date == null && !deleted) return drop();
          final String id = child + SEP + kind + SEP + eventId;
          return List.of(KeyValue.pair(id, head + SEP + (date == null ? "" : week(date))));
        }
        case "assessment": {
          final String start = text(body, "startDate", "start_date");
          final String done = text(body, "completionDate", "completion_date");
          if (start == null && !deleted) return drop();
          if (start != null && done != null && LocalDate.parse(done).isBefore(LocalDate.parse(start))) {
            return drop();
          }
          final String id = child + SEP + kind + SEP + eventId;
          return List.of(KeyValue.pair(id, head + SEP + (start == null ? "" : week(start)) + SEP
              + (done == null ? "" : week(done))));
        }
        case "attendance": {
          final String urn = text(body, "schoolUrn", "school_urn");
          final String date = text(body, "date", "date");
          final String session = text(body, "session", "session");
          if (urn == null || date == null || session == null) return drop();
          final String code = body.path("code").asText("");
          final String cls;
          if (PRESENT.contains(code)) {
            cls = "P";
          } else if (ABSENT.contains(code)) {
            cls = "A";
          } else if (NOT_COUNTED.contains(code)) {
            cls = "N";
          } else if (deleted) {
            cls = "N";
          } else {
            return drop();
          }
          final String id = child + SEP + "mark" + SEP + urn + SEP + date + SEP + session;
          return List.of(KeyValue.pair(id, head + SEP + urn + SEP + week(date) + SEP + cls));
        }
        default:
          return drop();
      }
    } catch (java.io.IOException | DateTimeParseException | IllegalArgumentException ex) {
      return drop();
    }
  }

  private static List<KeyValue<String, String>> drop() {
    ++dropped;
    return List.of();
  }

  /** Whether {@code next} replaces {@code current}: not older (on a tie the later arrival wins). */
  static boolean replaces(String next, String current) {
    if (current == null || current.isEmpty()) return true;
    final String[] n = next.split(SEP, 3);
    final String[] c = current.split(SEP, 3);
    final int seconds = Long.compare(Long.parseLong(n[0]), Long.parseLong(c[0]));
    if (seconds != 0) return seconds > 0;
    return Integer.parseInt(n[1]) >= Integer.parseInt(c[1]);
  }

  static boolean live(String version) {
    return field(version, 2).equals("0");
  }

  static String field(String version, int i) {
    return version.split(SEP, -1)[i];
  }

  static String child(String id) {
    return id.substring(0, id.indexOf(SEP));
  }

  /** The output key, as the processor's: kpi|week_start|dimension. */
  static String rowKey(String kpi, String week, String dimension) {
    return kpi + "|" + week + "|" + dimension;
  }

  static String row(long count, long base) {
    return "{\"count\":" + count + ",\"base\":" + base + "}";
  }

  private static String week(String date) {
    return LocalDate.parse(date).with(TemporalAdjusters.previousOrSame(DayOfWeek.MONDAY)).toString();
  }

  private static Instant instant(String s) {
    try {
      return Instant.parse(s);
    } catch (DateTimeParseException e) {
      return OffsetDateTime.parse(s).toInstant();
    }
  }

  private static String text(JsonNode node, String camel, String snake) {
    JsonNode v = node.get(camel);
    if (v == null || v.isNull()) v = node.get(snake);
    if (v == null || v.isNull() || !v.isTextual() || v.asText().isEmpty()) return null;
    return v.asText();
  }
}
