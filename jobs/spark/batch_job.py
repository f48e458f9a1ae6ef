"""pinctl's batch job on Spark: the S3 sink's objects -> three cleaned Delta tables -> the 8 answers.

The same contract as the Rust batch job (`pinctl worker batch`, src/workers/batch.rs), for a
pipeline that outgrows one machine (issue 18): either job can take over the other's tables.
The rules come from the data contract, ../shared/spec/pinterest-data.md: §3 for the objects, §4
for cleaning, §5 for the questions.

Reads
    INPUT/TOPICS_DIR/<uid>.{pin,geo,user}/partition=N/*   (INPUT: a directory laid out like the
    bucket, or the bucket itself as a Hadoop URI: s3:// on EMR, s3a://BUCKET with hadoop-aws
    3.3.4 and aws-java-sdk-bundle 1.12.262 among the jars; AWS_ENDPOINT_URL, when set, is the
    S3 endpoint, as for the AWS CLI), each object JSON lines: one row of the source table per
    line, as the S3 sink writes it (§3).

Writes
    OUT/<uid>_pin_table    ind bigint NOT NULL, unique_id, title, description string,
                           follower_count bigint, poster_name, tag_list, is_image_or_video,
                           image_src, save_location, category string
    OUT/<uid>_geo_table    ind bigint NOT NULL, country string, coordinates array<double>
                           ([latitude, longitude]), timestamp timestamp
    OUT/<uid>_user_table   ind bigint NOT NULL, user_name string, age bigint,
                           date_joined timestamp
        Delta tables, one row per ind, upserted with a Delta MERGE on ind: a run over objects
        already taken in leaves the same rows (and rewrites nothing).
    OUT/results/<qid>      each answer of §5 as a Delta table (q1, q2, q3a, q3b, q4 ... q8),
                           replaced at each run
    REPORT_DIR/results/<qid>.json
                           (REPORT_DIR a directory or a URI: s3://BUCKET/delta/batch/report on
                           EMR, beside the tables, where the Rust job puts its report)
                           the same answer as a JSON array of objects, columns in order, integers
                           as numbers: the files the Rust job writes, from which its report is
                           drawn
    stdout                 last line: {"merged": {"<uid>_pin_table": rows new or changed, ...},
                           "rows": {"<uid>_pin_table": rows, ...}}

Usage
    python batch_job.py --input DIR --uid UID --out DIR --report-dir DIR
        [--topics-dir topics] [--jars DELTA_JARS_DIR] [--master local[2]] [--conf KEY=VALUE ...]
    (or spark-submit with Delta Lake's jars, e.g. on EMR Serverless)

    Spark 3.5 with Delta Lake 3.3 (io.delta:delta-spark_2.12 and delta-storage). --jars passes a
    directory of jars as spark.jars, and the delta-spark jar's Python API (delta.tables) to
    Python, as spark-submit --packages does; --conf sets any other Spark setting, as
    spark-submit does.

Each run reads every object under the topics (there is no progress to keep: the MERGE makes a
re-read harmless), keeps the last record of each ind in object-key order (the order the sink wrote
them in), cleans it by §4 and merges it into the table. The answers are then computed from the
three tables.

Where the Rust job and this one can differ, only on input no sink writes (both skip a line that is
not JSON and treat a value that is an object or an array as missing):
- a JSON number in a text column keeps Spark's spelling (title 1e7 -> "1.0E7", where the Rust job
  writes "10000000.0"); numbers read as numbers (keys, ages, coordinates) are the same;
- a line with text after its JSON object is read up to the object's end (the Rust job skips it).
"""

import argparse
import glob
import json
import os
import sys
import time

from pyspark.sql import SparkSession, Window
from pyspark.sql import functions as F
from pyspark.sql import types as T

TABLES = ("pin", "geo", "user")

# The fields of each topic's records that cleaning reads (§1, §4: `downloaded` is dropped); the
# key is `index` in pins, `ind` elsewhere.
RAW_FIELDS = {
    "pin": [
        "index", "unique_id", "title", "description", "poster_name", "follower_count",
        "tag_list", "is_image_or_video", "image_src", "save_location", "category",
    ],
    "geo": ["ind", "timestamp", "latitude", "longitude", "country"],
    "user": ["ind", "first_name", "last_name", "age", "date_joined"],
}

# §4.1: the values that mean "no value", per column (matched exactly; "" is none in any column).
PLACEHOLDERS = {
    "title": ["No Title Data Available"],
    "description": ["No description available Story format", "No description available"],
    "poster_name": ["User Info Error"],
    "follower_count": ["User Info Error"],
    "tag_list": ["N,o, ,T,a,g,s, ,A,v,a,i,l,a,b,l,e"],
    "image_src": ["Image src error."],
}


def _text(name):
    return T.StructField(name, T.StringType())


# §4: the cleaned tables' columns, in order, with the types both jobs write.
SCHEMAS = {
    "pin": T.StructType(
        [T.StructField("ind", T.LongType(), nullable=False)]
        + [_text(c) for c in ("unique_id", "title", "description")]
        + [T.StructField("follower_count", T.LongType())]
        + [
            _text(c)
            for c in (
                "poster_name", "tag_list", "is_image_or_video", "image_src", "save_location",
                "category",
            )
        ]
    ),
    "geo": T.StructType(
        [
            T.StructField("ind", T.LongType(), nullable=False),
            _text("country"),
            T.StructField("coordinates", T.ArrayType(T.DoubleType())),
            T.StructField("timestamp", T.TimestampType()),
        ]
    ),
    "user": T.StructType(
        [
            T.StructField("ind", T.LongType(), nullable=False),
            _text("user_name"),
            T.StructField("age", T.LongType()),
            T.StructField("date_joined", T.TimestampType()),
        ]
    ),
}

# Strict JSON, as the sink writes it: no single quotes, no NaN.
JSON_OPTIONS = {"allowSingleQuotes": "false", "allowNonNumericNumbers": "false"}

# Java regular expressions (Spark's rlike), anchored at both ends of the value (\z: not before a
# final newline, as $ would be).
INTEGER = r"^[+-]?[0-9]+\z"
# A decimal number: digits with an optional point and exponent, or a point and digits.
NUMBER = r"^[+-]?([0-9]+\.?[0-9]*|\.[0-9]+)([eE][+-]?[0-9]+)?\z"
DIGITS = r"^[0-9]+\z"
SCALED = r"^([0-9]+(\.[0-9]+)?)([kM])\z"
DATETIME = r"^[0-9]{4}-[0-9]{2}-[0-9]{2}[T ][0-9]{2}:[0-9]{2}:[0-9]{2}\z"

# The largest 64-bit integer, as the double nearest it (2^63).
LONG_MAX = 9.223372036854775807e18


# ---- Spark ----


STARTED = time.monotonic()


def log(message):
    """A line of progress on stderr, with the seconds since the job started."""
    print(f"batch_job: {time.monotonic() - STARTED:6.1f} s  {message}", file=sys.stderr, flush=True)


def spark_session(args):
    builder = SparkSession.builder.appName(f"pinctl-batch-{args.uid}")
    if args.master:
        builder = builder.master(args.master)
    if args.jars:
        jars = sorted(glob.glob(os.path.join(args.jars, "*.jar")))
        if not any(os.path.basename(j).startswith("delta-spark_") for j in jars):
            sys.exit(f"no Delta Lake jars (delta-spark_*.jar) in {args.jars!r}")
        builder = builder.config("spark.jars", ",".join(jars))
    settings = {
        "spark.sql.extensions": "io.delta.sql.DeltaSparkSessionExtension",
        "spark.sql.catalog.spark_catalog": "org.apache.spark.sql.delta.catalog.DeltaCatalog",
        # Timestamps are UTC with no zone shift (§4), and years are years in UTC (§5).
        "spark.sql.session.timeZone": "UTC",
        # A datetime that does not parse is null, never an error.
        "spark.sql.ansi.enabled": "false",
        "spark.sql.legacy.timeParserPolicy": "CORRECTED",
        # Timestamps stored as Parquet's TIMESTAMP_MICROS (what delta-rs writes), any year
        # written and read as it is: proleptic Gregorian, as the Rust job (chrono) writes them,
        # with no rebasing (Spark refuses by default to read years before 1900 it did not write).
        "spark.sql.parquet.outputTimestampType": "TIMESTAMP_MICROS",
        "spark.sql.parquet.datetimeRebaseModeInWrite": "CORRECTED",
        "spark.sql.parquet.int96RebaseModeInWrite": "CORRECTED",
        "spark.sql.parquet.datetimeRebaseModeInRead": "CORRECTED",
        "spark.sql.parquet.int96RebaseModeInRead": "CORRECTED",
        # A batch job's log: no progress bars.
        "spark.ui.showConsoleProgress": "false",
    }
    # s3a:// on a local S3 (moto, MinIO): its endpoint, plain HTTP, buckets by path.
    endpoint = os.environ.get("AWS_ENDPOINT_URL_S3") or os.environ.get("AWS_ENDPOINT_URL")
    if endpoint:
        settings["spark.hadoop.fs.s3a.endpoint"] = endpoint
        settings["spark.hadoop.fs.s3a.path.style.access"] = "true"
        settings["spark.hadoop.fs.s3a.connection.ssl.enabled"] = str(
            endpoint.startswith("https://")
        ).lower()
    for item in args.conf:
        key, _, value = item.partition("=")
        settings[key] = value
    for key, value in settings.items():
        builder = builder.config(key, value)
    spark = builder.getOrCreate()
    spark.sparkContext.setLogLevel("WARN")
    if args.jars:
        # Delta Lake's Python API (delta.tables) ships inside its jar, as with --packages.
        spark.sparkContext.addPyFile(next(j for j in jars if "delta-spark_" in j))
    return spark


def location(path):
    """A local path made absolute; a URI (s3a://...) as it is."""
    return path.rstrip("/") if "://" in path else os.path.abspath(path)


def write_text(spark, path, text):
    """Writes `text` as UTF-8 to `path`: a local file (its directory made), or a file system URI
    (s3:// on EMR, s3a://) through Hadoop's FileSystem, replacing what is there."""
    if "://" not in path:
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "w", encoding="utf-8") as f:
            f.write(text)
        return
    jvm = spark.sparkContext._jvm
    target = jvm.org.apache.hadoop.fs.Path(path)
    fs = target.getFileSystem(spark.sparkContext._jsc.hadoopConfiguration())
    out = fs.create(target, True)
    try:
        out.write(bytearray(text.encode("utf-8")))
    finally:
        out.close()


def matches(spark, pattern):
    """Whether the Hadoop glob `pattern` names any file (spark.read fails on an empty glob)."""
    jvm = spark.sparkContext._jvm
    path = jvm.org.apache.hadoop.fs.Path(pattern)
    fs = path.getFileSystem(spark.sparkContext._jsc.hadoopConfiguration())
    found = fs.globStatus(path)
    return found is not None and len(found) > 0


# ---- reading the sink's objects (§3) ----


def json_fields(line, names):
    """The named fields of a JSON object (a line) as text: strings as they are, numbers and
    booleans as written; null when missing, null or an object or an array (a value of no column's
    type), and all null when the line is not a JSON object."""
    def parsed(field_type):
        schema = T.StructType([T.StructField(n, field_type) for n in names])
        return F.from_json(line, schema, JSON_OPTIONS)

    as_text = parsed(T.StringType())
    as_object = parsed(T.MapType(T.StringType(), T.StringType()))
    as_array = parsed(T.ArrayType(T.StringType()))
    return [
        F.when(as_object[n].isNull() & as_array[n].isNull(), as_text[n]).alias(n) for n in names
    ]


def read_records(spark, args, table):
    """The topic's records, one row per line of its objects, each field as text, with where it
    came from (object key, line) for keeping the last record of each ind. None: no objects yet."""
    topic = f"{args.uid}.{table}"
    pattern = f"{location(args.input)}/{args.topics_dir}/{topic}/partition=*/*"
    if not matches(spark, pattern):
        return None
    objects = spark.read.text(pattern, wholetext=True)
    lines = objects.select(
        F.col("_metadata.file_path").alias("object"),
        F.posexplode(F.split("value", "\n")).alias("line", "json"),
    )
    return lines.select("object", "line", *json_fields(F.col("json"), RAW_FIELDS[table]))


# ---- cleaning (§4) ----


def number(c):
    """A finite decimal number as written (no spaces, no NaN or Infinity), as a double."""
    d = F.when(c.rlike(NUMBER), c.cast("double"))
    return F.when(F.abs(d) < float("inf"), d)


def integer(c):
    """An integer (`12`, `+12`), or a number with no fraction (`12.0`, as a JSON number may be
    written) within 9e15; anything else null."""
    whole = F.when(c.rlike(INTEGER), c.cast("long"))
    d = number(c)
    return F.coalesce(whole, F.when((d == F.floor(d)) & (F.abs(d) < 9.0e15), d.cast("long")))


def followers(c):
    """§4.2: `124k` -> 124,000, `1.5k` -> 1,500, `2M` -> 2,000,000 (rounded half away from zero),
    plain digits as they are; anything else (` 124k`, `12K`, `1.5`, placeholders) null."""
    digits = F.when(c.rlike(DIGITS), c.cast("long"))
    n = F.regexp_extract(c, SCALED, 1).cast("double")
    factor = F.when(F.regexp_extract(c, SCALED, 3) == "k", 1_000.0).otherwise(1_000_000.0)
    scaled = F.round(n * factor)
    return F.coalesce(
        digits, F.when(c.rlike(SCALED) & (scaled <= LONG_MAX), scaled.cast("long"))
    )


def timestamp(c):
    """Exactly `YYYY-MM-DDTHH:MM:SS` or `YYYY-MM-DD HH:MM:SS`, every field zero-padded, a real
    date and time, read as UTC; anything else null. A leap second (`23:59:60`) is the next second,
    as ISO 8601 and the Rust job's parser (chrono) read it."""
    text = F.translate(c, "T", " ")
    leap = F.substring(c, 18, 2) == "60"
    seconds = F.when(leap, F.concat(F.substring(text, 1, 17), F.lit("59"))).otherwise(text)
    parsed = F.to_timestamp(seconds, "yyyy-MM-dd HH:mm:ss")
    return F.when(
        c.rlike(DATETIME),
        F.when(leap, parsed + F.expr("INTERVAL 1 SECOND")).otherwise(parsed),
    )


def text(name):
    """§4.1: a text column with its placeholders and the empty string as null."""
    c = F.col(name)
    value = c != ""
    if name in PLACEHOLDERS:
        value = value & ~c.isin(PLACEHOLDERS[name])
    return F.when(value, c).alias(name)


def clean(table, raw):
    """§4: a topic's raw records as the cleaned table's columns (rows without a usable key
    dropped: a row is identified by ind), plus the record's position."""
    position = [F.col("object"), F.col("line")]
    if table == "pin":
        save = F.col("save_location")
        prefix = "Local save in "
        columns = [
            integer(F.col("index")).alias("ind"),
            text("unique_id"),
            text("title"),
            text("description"),
            followers(text("follower_count")).alias("follower_count"),
            text("poster_name"),
            text("tag_list"),
            text("is_image_or_video"),
            text("image_src"),
            F.when(
                save.startswith(prefix), F.expr(f"substring(save_location, {len(prefix) + 1})")
            )
            .when(save != "", save)
            .alias("save_location"),
            text("category"),
        ]
    elif table == "geo":
        lat, lon = number(F.col("latitude")), number(F.col("longitude"))
        columns = [
            integer(F.col("ind")).alias("ind"),
            text("country"),
            F.when(lat.isNotNull() & lon.isNotNull(), F.array(lat, lon)).alias("coordinates"),
            timestamp(F.col("timestamp")).alias("timestamp"),
        ]
    else:
        first, last = F.col("first_name"), F.col("last_name")
        columns = [
            integer(F.col("ind")).alias("ind"),
            F.when((first != "") & (last != ""), F.concat(first, F.lit(" "), last)).alias(
                "user_name"
            ),
            integer(F.col("age")).alias("age"),
            timestamp(F.col("date_joined")).alias("date_joined"),
        ]
    return raw.select(*columns, *position).where(F.col("ind").isNotNull())


def latest_per_ind(cleaned):
    """One row per ind: the last record, in the order of the objects' keys (the sink's offsets)
    and of lines within an object: a record seen twice leaves one row (§4, Identity)."""
    last_first = Window.partitionBy("ind").orderBy(F.desc("object"), F.desc("line"))
    return (
        cleaned.withColumn("n", F.row_number().over(last_first))
        .where("n = 1")
        .drop("n", "object", "line")
    )


# ---- the Delta tables ----


def upsert(spark, path, schema, rows):
    """MERGE rows into the Delta table at path by ind (created with the schema if missing): new
    inds inserted, changed rows updated. Rows the table already holds as they are take no part,
    so a run over objects already taken in commits nothing. Returns the rows merged."""
    from delta.tables import DeltaTable

    DeltaTable.createIfNotExists(spark).location(path).addColumns(schema).execute()
    table = DeltaTable.forPath(spark, path)
    # EXCEPT compares nulls as equal: what is left is new or changed.
    changes = rows.subtract(table.toDF()).cache()
    merged = changes.count()
    if merged:
        (
            table.alias("t")
            .merge(changes.alias("s"), "t.ind = s.ind")
            .whenMatchedUpdateAll()
            .whenNotMatchedInsertAll()
            .execute()
        )
    changes.unpersist()
    return merged


# ---- the questions (§5) ----


def age_group(age):
    return (
        F.when(age.between(18, 24), "18-24")
        .when(age.between(25, 35), "25-35")
        .when(age.between(36, 50), "36-50")
        .when(age > 50, "+50")
    )


def age_order():
    """Age groups in their natural order, for sorting."""
    g = F.col("age_group")
    return F.when(g == "18-24", 1).when(g == "25-35", 2).when(g == "36-50", 3).otherwise(4)


def most_popular(rows, group):
    """The categories with the most posts in each group, ties kept."""
    counts = rows.groupBy(group, "category").agg(F.count("*").alias("category_count"))
    top = Window.partitionBy(group).orderBy(F.desc("category_count"))
    return counts.withColumn("rank", F.rank().over(top)).where("rank = 1").drop("rank")


def lower_median(rows, groups, value, name):
    """The exact median of `value` in each group; for an even count the lower middle value."""
    ordered = Window.partitionBy(*groups).orderBy(value)
    return (
        rows.withColumn("n", F.count("*").over(Window.partitionBy(*groups)))
        .withColumn("position", F.row_number().over(ordered))
        .where("position = (n + 1) div 2")
        .select(*groups, F.col(value).alias(name))
    )


def answers(pin, geo, user):
    """The 8 questions of §5 (q3 in two parts), in order, each sorted as §5 says: inner joins on
    ind, rows with a null grouping or measured column left out, years inclusive."""
    posts = pin.join(geo, "ind")
    by_age = pin.join(user, "ind").select(
        "category",
        "follower_count",
        age_group(F.col("age")).alias("age_group"),
        F.year("date_joined").cast("long").alias("post_year"),
    )
    joined_2015_2020 = by_age.where(F.col("post_year").between(2015, 2020))
    countries = posts.where(
        F.col("country").isNotNull()
        & F.col("poster_name").isNotNull()
        & F.col("follower_count").isNotNull()
    )
    top_posters = countries.groupBy("country").agg(F.max("follower_count").alias("follower_count"))
    top_rank = Window.partitionBy("country").orderBy(F.desc("follower_count"))

    q1 = most_popular(posts.dropna(subset=["country", "category"]), "country").orderBy(
        "country", "category"
    )
    q2 = (
        posts.where(F.col("category").isNotNull())
        .withColumn("post_year", F.year("timestamp").cast("long"))
        .where(F.col("post_year").between(2018, 2022))
        .groupBy("post_year", "category")
        .agg(F.count("*").alias("category_count"))
        .orderBy("post_year", "category")
    )
    q3a = (
        countries.withColumn("rank", F.rank().over(top_rank))
        .where("rank = 1")
        .select("country", "poster_name", "follower_count")
        .distinct()
        .orderBy("country", "poster_name", "follower_count")
    )
    q3b = (
        top_posters.join(
            top_posters.agg(F.max("follower_count").alias("follower_count")), "follower_count"
        )
        .select("country", "follower_count")
        .orderBy("country")
    )
    q4 = (
        most_popular(by_age.dropna(subset=["age_group", "category"]), "age_group")
        .orderBy(age_order(), "category")
    )
    q5 = lower_median(
        by_age.dropna(subset=["age_group", "follower_count"]),
        ["age_group"], "follower_count", "median_follower_count",
    ).orderBy(age_order())
    q6 = (
        user.withColumn("post_year", F.year("date_joined").cast("long"))
        .where(F.col("post_year").between(2015, 2020))
        .groupBy("post_year")
        .agg(F.count("*").alias("number_users_joined"))
        .orderBy("post_year")
    )
    q7 = lower_median(
        joined_2015_2020.dropna(subset=["follower_count"]),
        ["post_year"], "follower_count", "median_follower_count",
    ).orderBy("post_year")
    q8 = lower_median(
        joined_2015_2020.dropna(subset=["age_group", "follower_count"]),
        ["age_group", "post_year"], "follower_count", "median_follower_count",
    ).orderBy(age_order(), "post_year")
    return [
        ("q1", q1), ("q2", q2), ("q3a", q3a), ("q3b", q3b), ("q4", q4),
        ("q5", q5), ("q6", q6), ("q7", q7), ("q8", q8),
    ]


# ---- the job ----


def parse_args(argv):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--input", required=True, help="the sink's bucket: a directory or s3a://BUCKET")
    p.add_argument("--uid", required=True, help="the pipeline's user id (12 hex characters)")
    p.add_argument("--out", required=True, help="where the Delta tables go: a directory or a URI")
    p.add_argument("--report-dir", required=True,
                   help="where results/<qid>.json go: a directory or a URI (s3://, s3a://)")
    p.add_argument("--topics-dir", default="topics", help="the sink's topics.dir")
    p.add_argument("--jars", help="a directory of jars to pass as spark.jars (Delta Lake's)")
    p.add_argument("--master", help="Spark's master (default: spark-submit's, or local[*])")
    p.add_argument("--conf", action="append", default=[], metavar="KEY=VALUE",
                   help="a Spark setting, as spark-submit --conf")
    return p.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    spark = spark_session(args)
    log(f"Spark {spark.version} started ({spark.sparkContext.master})")
    out = location(args.out)
    tables, merged = {}, {}
    try:
        for table in TABLES:
            name = f"{args.uid}_{table}_table"
            path = f"{out}/{name}"
            raw = read_records(spark, args, table)
            if raw is None:
                # No objects yet: the table exists, empty, so the questions still have answers.
                from delta.tables import DeltaTable

                DeltaTable.createIfNotExists(spark).location(path).addColumns(
                    SCHEMAS[table]
                ).execute()
                merged[name] = 0
            else:
                merged[name] = upsert(spark, path, SCHEMAS[table], latest_per_ind(clean(table, raw)))
                log(f"{path}: {merged[name]} rows new or changed")
            tables[table] = spark.read.format("delta").load(path)

        results_dir = location(args.report_dir) + "/results"
        for qid, answer in answers(tables["pin"], tables["geo"], tables["user"]):
            # Computed once: the Delta table and the JSON file hold the same rows.
            rows = answer.collect()
            spark.createDataFrame(rows, answer.schema).write.format("delta").mode(
                "overwrite"
            ).option("overwriteSchema", "true").save(f"{out}/results/{qid}")
            write_text(
                spark,
                f"{results_dir}/{qid}.json",
                json.dumps([r.asDict() for r in rows], indent=2, ensure_ascii=False) + "\n",
            )
            log(f"{qid}: {len(rows)} rows")
        counts = {f"{args.uid}_{t}_table": tables[t].count() for t in TABLES}
    finally:
        spark.stop()
    print(json.dumps({"merged": merged, "rows": counts}), flush=True)


if __name__ == "__main__":
    main()
