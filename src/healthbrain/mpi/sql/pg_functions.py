"""String metrics for PostgreSQL, installed by the executor (no extension or superuser needed).

Levenshtein, unrestricted Damerau-Levenshtein and Jaro-Winkler over characters (not bytes), with
the definitions rapidfuzz and DuckDB use, so that levels agree across engines.
"""

from __future__ import annotations

LEVENSHTEIN = """
CREATE OR REPLACE FUNCTION mpi_levenshtein(a text, b text) RETURNS integer
LANGUAGE plpgsql IMMUTABLE STRICT PARALLEL SAFE AS $$
DECLARE
  la int := char_length(a); lb int := char_length(b);
  prev int[]; cur int[]; i int; j int; cost int;
BEGIN
  IF la = 0 THEN RETURN lb; END IF;
  IF lb = 0 THEN RETURN la; END IF;
  prev := array_fill(0, ARRAY[lb + 1], ARRAY[0]);
  FOR j IN 0..lb LOOP prev[j] := j; END LOOP;
  FOR i IN 1..la LOOP
    cur := array_fill(0, ARRAY[lb + 1], ARRAY[0]);
    cur[0] := i;
    FOR j IN 1..lb LOOP
      cost := CASE WHEN substr(a, i, 1) = substr(b, j, 1) THEN 0 ELSE 1 END;
      cur[j] := least(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + cost);
    END LOOP;
    prev := cur;
  END LOOP;
  RETURN prev[lb];
END $$;
"""

# Lowrance-Wagner: transpositions of non-adjacent runs count too (rapidfuzz's DamerauLevenshtein).
DAMERAU_LEVENSHTEIN = """
CREATE OR REPLACE FUNCTION mpi_damerau_levenshtein(a text, b text) RETURNS integer
LANGUAGE plpgsql IMMUTABLE STRICT PARALLEL SAFE AS $$
DECLARE
  la int := char_length(a); lb int := char_length(b); maxd int := la + lb;
  d int[]; da jsonb := '{}'::jsonb; i int; j int; db int; k int; l int; cost int; w int := lb + 2;
BEGIN
  IF la = 0 THEN RETURN lb; END IF;
  IF lb = 0 THEN RETURN la; END IF;
  d := array_fill(0, ARRAY[(la + 2) * w]);
  d[1] := maxd;
  FOR i IN 0..la LOOP d[(i + 1) * w + 1] := maxd; d[(i + 1) * w + 2] := i; END LOOP;
  FOR j IN 0..lb LOOP d[j + 2] := maxd; d[w + j + 2] := j; END LOOP;
  FOR i IN 1..la LOOP
    db := 0;
    FOR j IN 1..lb LOOP
      k := coalesce((da ->> substr(b, j, 1))::int, 0);
      l := db;
      IF substr(a, i, 1) = substr(b, j, 1) THEN cost := 0; db := j; ELSE cost := 1; END IF;
      d[(i + 1) * w + j + 2] := least(
        d[i * w + j + 1] + cost, d[(i + 1) * w + j + 1] + 1, d[i * w + j + 2] + 1,
        d[k * w + l + 1] + (i - k - 1) + 1 + (j - l - 1));
    END LOOP;
    da := da || jsonb_build_object(substr(a, i, 1), i);
  END LOOP;
  RETURN d[(la + 1) * w + lb + 2];
END $$;
"""

JARO_WINKLER = """
CREATE OR REPLACE FUNCTION mpi_jaro_winkler(a text, b text) RETURNS double precision
LANGUAGE plpgsql IMMUTABLE STRICT PARALLEL SAFE AS $$
DECLARE
  la int := char_length(a); lb int := char_length(b); win int; m int := 0; t int := 0;
  am bool[]; bm bool[]; i int; j int; k int := 1; jaro double precision; p int := 0;
BEGIN
  IF la = 0 AND lb = 0 THEN RETURN 1.0; END IF;
  IF la = 0 OR lb = 0 THEN RETURN 0.0; END IF;
  win := greatest(greatest(la, lb) / 2 - 1, 0);
  am := array_fill(false, ARRAY[la]); bm := array_fill(false, ARRAY[lb]);
  FOR i IN 1..la LOOP
    FOR j IN greatest(1, i - win)..least(lb, i + win) LOOP
      IF NOT bm[j] AND substr(a, i, 1) = substr(b, j, 1) THEN
        am[i] := true; bm[j] := true; m := m + 1; EXIT;
      END IF;
    END LOOP;
  END LOOP;
  IF m = 0 THEN RETURN 0.0; END IF;
  FOR i IN 1..la LOOP
    IF am[i] THEN
      WHILE NOT bm[k] LOOP k := k + 1; END LOOP;
      IF substr(a, i, 1) <> substr(b, k, 1) THEN t := t + 1; END IF;
      k := k + 1;
    END IF;
  END LOOP;
  jaro := (m::double precision / la + m::double precision / lb + (m - t / 2)::double precision / m) / 3.0;
  IF jaro <= 0.7 THEN RETURN jaro; END IF;
  WHILE p < least(4, la, lb) AND substr(a, p + 1, 1) = substr(b, p + 1, 1) LOOP p := p + 1; END LOOP;
  RETURN jaro + p * 0.1 * (1.0 - jaro);
END $$;
"""

ALL = (LEVENSHTEIN, DAMERAU_LEVENSHTEIN, JARO_WINKLER)
