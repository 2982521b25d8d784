import Foundation
import OrgMatrixStore
import OrgMatrixTestSupport
import PostgresNIO
import Testing

/// The database, not only Swift, keeps the application and the auditor in their lanes.
@Suite struct RoleTests {
    @Test func applicationRoleCannotBypassRowLevelSecurity() async throws {
        try await ThrowawayDatabase.with { database in
            let (bypass, superuser) = try await withConnection(database.appURL) { connection in
                try await connection.query(
                    "SELECT rolbypassrls, rolsuper FROM pg_roles WHERE rolname = current_user", logger: testLogger
                ).collect().first!.decode((Bool, Bool).self)
            }
            #expect(bypass == false)
            #expect(superuser == false)
        }
    }

    @Test(arguments: [
        "CREATE TABLE intruder (id int)",
        "CREATE TEMPORARY TABLE intruder (id int)",
        "CREATE SCHEMA intruder",
        "CREATE FUNCTION intruder() RETURNS int LANGUAGE sql AS 'SELECT 1'",
    ])
    func applicationAndAuditorRolesCannotCreateObjects(statement: String) async throws {
        try await ThrowawayDatabase.with { database in
            for url in [database.appURL, database.auditorURL] {
                let error = await #expect(throws: PSQLError.self) {
                    try await withConnection(url) { connection in
                        try await connection.query(PostgresQuery(unsafeSQL: statement), logger: testLogger)
                    }
                }
                #expect(error?.sqlState == "42501", "\(url.username): \(statement)")
            }
        }
    }

    @Test func everyTableForcesRowLevelSecurity() async throws {
        try await ThrowawayDatabase.with { database in
            let unforced = try await withConnection(database.ownerURL) { connection in
                try await connection.query(
                    """
                    SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
                    WHERE n.nspname = 'public' AND c.relkind = 'r' AND c.relname <> 'schema_migrations'
                      AND NOT (c.relrowsecurity AND c.relforcerowsecurity)
                    """, logger: testLogger
                ).collect().map { try $0.decode(String.self) }
            }
            #expect(unforced.isEmpty)
        }
    }

    /// Raw settings are not a principal: only app_begin's signed context is (SandboxSQLTests
    /// covers what a real principal sees).
    @Test func tenantsAreInvisibleWithoutASignedPrincipal() async throws {
        try await ThrowawayDatabase.with { database in
            let tenantA = UUID()
            try await withConnection(database.ownerURL) { connection in
                try await connection.query(
                    "INSERT INTO tenants (tenant_id, code, name) VALUES (\(tenantA), 'dairy', '乳业集团'), (\(UUID()), 'cement', '建材集团')",
                    logger: testLogger)
            }
            let visible = try await withConnection(database.appURL) { connection in
                let none = try await connection.query("SELECT count(*)::int FROM tenants", logger: testLogger)
                    .collect().first!.decode(Int.self)
                let empty = try await connection.query(
                    "SELECT set_config('app.tenant_id', '', false), (SELECT count(*)::int FROM tenants)", logger: testLogger
                ).collect().first!.decode((String, Int).self).1
                let raw = try await connection.query(
                    "SELECT set_config('app.tenant_id', \(tenantA.uuidString), false), (SELECT count(*)::int FROM tenants)",
                    logger: testLogger
                ).collect().first!.decode((String, Int).self).1
                return (none, empty, raw)
            }
            #expect(visible.0 == 0)
            #expect(visible.1 == 0)
            #expect(visible.2 == 0)
        }
    }

    @Test func applicationAndAuditorCannotWriteTenants() async throws {
        try await ThrowawayDatabase.with { database in
            for url in [database.appURL, database.auditorURL] {
                let error = await #expect(throws: PSQLError.self) {
                    try await withConnection(url) { connection in
                        try await connection.query(
                            "INSERT INTO tenants (tenant_id, code, name) VALUES (\(UUID()), 'rogue', 'x')", logger: testLogger)
                    }
                }
                #expect(error?.sqlState == "42501", "\(url.username)")
            }
        }
    }
}
