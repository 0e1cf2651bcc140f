/**
 * A comparable description of a database's schema, read from the catalog:
 * tables, columns, enum types, sequences, constraints and indexes of the
 * `public` schema. Two databases built from equivalent DDL give equal snapshots.
 */
import type postgres from "postgres"

export interface CatalogSnapshot {
  readonly tables: ReadonlyArray<string>
  readonly columns: ReadonlyArray<Record<string, unknown>>
  readonly enums: ReadonlyArray<Record<string, unknown>>
  readonly sequences: ReadonlyArray<Record<string, unknown>>
  readonly constraints: ReadonlyArray<Record<string, unknown>>
  readonly indexes: ReadonlyArray<Record<string, unknown>>
}

const plain = <T extends object>(rows: ReadonlyArray<T>): Array<T> => rows.map((r) => ({ ...r }))

export async function catalogSnapshot(sql: postgres.Sql): Promise<CatalogSnapshot> {
  const tables = await sql<{ name: string }[]>`
    SELECT c.relname AS name
    FROM pg_class c
    WHERE c.relnamespace = 'public'::regnamespace AND c.relkind IN ('r', 'p')
    ORDER BY 1`
  const columns = await sql`
    SELECT c.relname AS table, a.attnum AS position, a.attname AS column,
           format_type(a.atttypid, a.atttypmod) AS type, a.attnotnull AS not_null,
           pg_get_expr(d.adbin, d.adrelid) AS default
    FROM pg_attribute a
    JOIN pg_class c ON c.oid = a.attrelid
    LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
    WHERE c.relnamespace = 'public'::regnamespace AND c.relkind IN ('r', 'p')
      AND a.attnum > 0 AND NOT a.attisdropped
    ORDER BY 1, 2`
  const enums = await sql`
    SELECT t.typname AS name, array_agg(e.enumlabel::text ORDER BY e.enumsortorder) AS labels
    FROM pg_type t JOIN pg_enum e ON e.enumtypid = t.oid
    WHERE t.typnamespace = 'public'::regnamespace
    GROUP BY t.typname
    ORDER BY 1`
  const sequences = await sql`
    SELECT s.relname AS name, format_type(q.seqtypid, NULL) AS type, q.seqstart::text AS start,
           q.seqincrement::text AS increment, q.seqmin::text AS min, q.seqmax::text AS max, q.seqcycle AS cycle,
           o.relname AS owned_by_table, oa.attname AS owned_by_column
    FROM pg_class s
    JOIN pg_sequence q ON q.seqrelid = s.oid
    LEFT JOIN pg_depend dep ON dep.classid = 'pg_class'::regclass AND dep.objid = s.oid AND dep.deptype = 'a'
      AND dep.refclassid = 'pg_class'::regclass
    LEFT JOIN pg_class o ON o.oid = dep.refobjid
    LEFT JOIN pg_attribute oa ON oa.attrelid = dep.refobjid AND oa.attnum = dep.refobjsubid
    WHERE s.relnamespace = 'public'::regnamespace AND s.relkind = 'S'
    ORDER BY 1`
  const constraints = await sql`
    SELECT rel.relname AS table, con.conname AS name, con.contype::text AS type,
           (SELECT array_agg(a.attname::text ORDER BY k.ord) FROM unnest(con.conkey) WITH ORDINALITY k(attnum, ord)
              JOIN pg_attribute a ON a.attrelid = con.conrelid AND a.attnum = k.attnum) AS columns,
           ref.relname AS references_table,
           (SELECT array_agg(a.attname::text ORDER BY k.ord) FROM unnest(con.confkey) WITH ORDINALITY k(attnum, ord)
              JOIN pg_attribute a ON a.attrelid = con.confrelid AND a.attnum = k.attnum) AS references_columns,
           NULLIF(con.confdeltype, ' ')::text AS on_delete, NULLIF(con.confupdtype, ' ')::text AS on_update,
           con.condeferrable AS deferrable,
           CASE WHEN con.contype = 'c' THEN pg_get_expr(con.conbin, con.conrelid) END AS check_expression,
           pg_get_constraintdef(con.oid) AS definition
    FROM pg_constraint con
    JOIN pg_class rel ON rel.oid = con.conrelid
    LEFT JOIN pg_class ref ON ref.oid = con.confrelid
    WHERE rel.relnamespace = 'public'::regnamespace
    ORDER BY 1, 2`
  const indexes = await sql<{ table: string; name: string; definition: string; unique: boolean; primary: boolean }[]>`
    SELECT t.relname AS table, i.relname AS name, x.indisunique AS unique, x.indisprimary AS primary,
           pg_get_indexdef(i.oid) AS definition
    FROM pg_index x
    JOIN pg_class i ON i.oid = x.indexrelid
    JOIN pg_class t ON t.oid = x.indrelid
    WHERE t.relnamespace = 'public'::regnamespace
    ORDER BY 1, 2`
  return {
    tables: tables.map((t) => t.name),
    columns: plain(columns),
    enums: plain(enums),
    sequences: plain(sequences),
    constraints: plain(constraints),
    // The definition names the table with its schema (`ON public.t`): keep it schema-free.
    indexes: indexes.map((i) => ({ ...i, definition: i.definition.replace(` ON public.${i.table} `, ` ON ${i.table} `) })),
  }
}
