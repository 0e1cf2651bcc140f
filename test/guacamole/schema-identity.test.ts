/**
 * The project's own DDL (src/guacamole/schema.sql) must build exactly the
 * catalog that Guacamole's upstream schema builds: same tables, columns,
 * types, defaults, enums, sequences, constraints and indexes.
 */
import { afterAll, beforeAll, describe, expect, setDefaultTimeout, test } from "bun:test"
import { type CatalogSnapshot, catalogSnapshot } from "./catalog.ts"
import { createTestDatabase, fixtureMissingReason, fixtureSchemaPath, type TestDatabase } from "../support/postgres.ts"

// Servers start and every wait has its own deadline; this is only the backstop (Bun sets it per file).
setDefaultTimeout(60_000)

const suite = fixtureSchemaPath === undefined ? describe.skip : describe
const title =
  fixtureSchemaPath === undefined
    ? `project schema vs Guacamole's upstream schema [skipped: ${fixtureMissingReason}]`
    : "project schema vs Guacamole's upstream schema"

suite(title, () => {
  let project: TestDatabase
  let fixture: TestDatabase
  let projectCatalog: CatalogSnapshot
  let fixtureCatalog: CatalogSnapshot

  beforeAll(async () => {
    ;[project, fixture] = await Promise.all([
      createTestDatabase({ schema: "project" }),
      createTestDatabase({ schema: "fixture" }),
    ])
    projectCatalog = await catalogSnapshot(project.sql)
    fixtureCatalog = await catalogSnapshot(fixture.sql)
  })
  afterAll(async () => {
    await Promise.all([project?.close(), fixture?.close()])
  })

  test("the upstream schema was actually loaded", () => {
    expect(fixtureCatalog.tables).toContain("guacamole_connection_group")
    expect(fixtureCatalog.tables.length).toBe(23)
  })

  test("same tables", () => {
    expect(projectCatalog.tables).toEqual(fixtureCatalog.tables)
  })

  test("same columns: position, name, type, nullability, default", () => {
    expect(projectCatalog.columns).toEqual(fixtureCatalog.columns)
  })

  test("same enum types with labels in the same order", () => {
    expect(projectCatalog.enums).toEqual(fixtureCatalog.enums)
  })

  test("same sequences (serial columns)", () => {
    expect(projectCatalog.sequences).toEqual(fixtureCatalog.sequences)
  })

  test("same constraints: kind, columns, referenced table and columns, actions, checks", () => {
    expect(projectCatalog.constraints).toEqual(fixtureCatalog.constraints)
  })

  test("same indexes", () => {
    expect(projectCatalog.indexes).toEqual(fixtureCatalog.indexes)
  })

  test("the comparison notices a one-word difference", async () => {
    await project.sql`ALTER TABLE guacamole_connection ALTER COLUMN failover_only SET DEFAULT true`
    const changed = await catalogSnapshot(project.sql)
    expect(changed.columns).not.toEqual(fixtureCatalog.columns)
    await project.sql`CREATE INDEX extra_index ON guacamole_entity (name)`
    expect((await catalogSnapshot(project.sql)).indexes).not.toEqual(fixtureCatalog.indexes)
  })
})
