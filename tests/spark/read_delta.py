"""Reads Delta tables the way a Spark or DuckDB user does, for tests/spark_delta.rs.

    read_delta.py spark JARS_DIR TABLE_DIR...   spark.read.format("delta").load(TABLE_DIR)
    read_delta.py duckdb TABLE_DIR...           SELECT * FROM delta_scan('TABLE_DIR')

Prints one JSON object on its last line: for each TABLE_DIR, its columns as [name, the engine's
type name] and its rows as lists in column order, with timestamps as microseconds since the epoch
(computed by the engine: Spark's unix_micros, DuckDB's epoch_us), so that nothing here converts a
value the engine read. Spark runs from pyspark with Delta Lake's jars from JARS_DIR (spark.jars:
nothing is downloaded); DuckDB loads its `delta` extension from the duckdb-ext-delta package,
signature checked and never fetched. Both are installed by scripts/setup.sh.
"""

import glob
import json
import os
import sys
import sysconfig

SETUP = "run scripts/setup.sh (scripts/test.sh sources it), which installs it"


def spark_tables(jars_dir, paths):
    try:
        from pyspark.sql import SparkSession, functions as F
        from pyspark.sql.types import TimestampType
    except ImportError as e:
        sys.exit(f"pyspark is missing from {sys.prefix} ({e}): {SETUP}")
    # Spark binds to the loopback interface only (it would pick the host's outward address).
    os.environ["SPARK_LOCAL_IP"] = "127.0.0.1"
    jars = sorted(glob.glob(os.path.join(jars_dir, "*.jar")))
    if not any(os.path.basename(j).startswith("delta-spark_") for j in jars):
        sys.exit(f"no Delta Lake jars (delta-spark_*.jar) in {jars_dir!r}: {SETUP}")
    spark = (
        SparkSession.builder.master("local[1]")
        .appName("pinctl-read-delta")
        .config("spark.jars", ",".join(jars))
        .config("spark.sql.extensions", "io.delta.sql.DeltaSparkSessionExtension")
        .config(
            "spark.sql.catalog.spark_catalog",
            "org.apache.spark.sql.delta.catalog.DeltaCatalog",
        )
        # Small and quick: one core, little memory, no UI, on the loopback interface only; a
        # JVM tuned for a short run; one partition for Delta's log replay (50 by default) and
        # shuffles; no code generation for a few hundred rows.
        .config("spark.driver.memory", "512m")
        .config("spark.driver.extraJavaOptions", "-XX:TieredStopAtLevel=1 -XX:+UseSerialGC")
        .config("spark.driver.host", "127.0.0.1")
        .config("spark.driver.bindAddress", "127.0.0.1")
        .config("spark.ui.enabled", "false")
        .config("spark.ui.showConsoleProgress", "false")
        .config("spark.databricks.delta.snapshotPartitions", "1")
        .config("spark.sql.shuffle.partitions", "1")
        .config("spark.sql.codegen.wholeStage", "false")
        .config("spark.sql.session.timeZone", "UTC")
        .getOrCreate()
    )
    out = {}
    try:
        for path in paths:
            df = spark.read.format("delta").load(path)
            fields = df.schema.fields
            columns = [[f.name, f.dataType.simpleString()] for f in fields]
            select = [
                F.unix_micros(F.col(f.name)).alias(f.name)
                if isinstance(f.dataType, TimestampType)
                else F.col(f.name)
                for f in fields
            ]
            rows = [list(r) for r in df.select(*select).collect()]
            out[path] = {"columns": columns, "rows": rows}
    finally:
        spark.stop()
    return out


def duckdb_tables(paths):
    try:
        import duckdb
    except ImportError as e:
        sys.exit(f"duckdb is missing from {sys.prefix} ({e}): {SETUP}")
    # duckdb-ext-delta installs DuckDB's own build of the extension under duckdb_ext/extensions.
    extensions = os.path.join(sysconfig.get_paths()["purelib"], "duckdb_ext", "extensions")
    if not os.path.isdir(extensions):
        sys.exit(f"DuckDB's delta extension (duckdb-ext-delta) is missing from {sys.prefix}: {SETUP}")
    con = duckdb.connect(
        config={
            "autoinstall_known_extensions": "false",
            "autoload_known_extensions": "false",
            "allow_unsigned_extensions": "false",
        }
    )
    con.execute("SET extension_directory = ?", [extensions])
    con.execute("LOAD delta")
    out = {}
    for path in paths:
        scan = "delta_scan('" + path.replace("'", "''") + "')"
        rel = con.sql(f"SELECT * FROM {scan}")
        columns = [[n, str(t)] for n, t in zip(rel.columns, rel.types)]
        select = ", ".join(
            f'epoch_us("{n}") AS "{n}"' if t.startswith("TIMESTAMP") else f'"{n}"'
            for n, t in columns
        )
        rows = [list(r) for r in con.sql(f"SELECT {select} FROM {scan}").fetchall()]
        out[path] = {"columns": columns, "rows": rows}
    con.close()
    return out


def main():
    engine, args = sys.argv[1], sys.argv[2:]
    if engine == "spark":
        out = spark_tables(args[0], args[1:])
    elif engine == "duckdb":
        out = duckdb_tables(args)
    else:
        sys.exit(f"unknown engine {engine!r}: spark or duckdb")
    print(json.dumps(out), flush=True)


if __name__ == "__main__":
    main()
