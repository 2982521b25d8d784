import Foundation
import Metrics
import NIOCore
import OrgMatrixCore
import OrgMatrixStore
import OrgMatrixTestSupport
import PostgresNIO
import SMCrypto
import Testing

/// Key custody (Schema/0012_org_keys.sql, Sources/OrgMatrixStore/Keys.swift) against the real
/// PostgreSQL: each test applies the fixture tenant with its ledger section (WH-B client-held,
/// every other org and the orderer custodial) under the shared test master key.
@Suite struct KeysTests {
    static let hq = KeyOwner.org(try! OrgCode("HQ"))
    static let whA = KeyOwner.org(try! OrgCode("WH-A"))
    static let whB = try! OrgCode("WH-B")

    private func ledgerFixture() async throws -> TenantFixture {
        try await TenantFixture.create(label: "keys", ledger: TenantFixture.ledger)
    }

    /// Runs `body` in one owner transaction on the fixture's keys; a throw rolls it back and comes out unwrapped.
    private func asOwner<T: Sendable>(_ fixture: TenantFixture, _ body: @Sendable (Keys) async throws -> T) async throws -> T {
        let environment = try await SharedDatabase.environment()
        return try await withClient(environment.ownerURL) { client in
            do {
                return try await client.withTransaction(logger: testLogger) { connection in
                    try await body(Keys(tenantID: fixture.tenantID, connection: connection, logger: testLogger))
                }
            } catch let error as PostgresTransactionError {
                throw error.closureError ?? error
            }
        }
    }

    /// Runs `body` in `principal`'s sandbox (the application role), unwrapped like `asOwner`.
    private func asPrincipal<T: Sendable>(
        _ fixture: TenantFixture, _ principal: String, _ body: @Sendable (Sandbox) async throws -> T
    ) async throws -> T {
        let environment = try await SharedDatabase.environment()
        let key = try #require(APIKey(fixture.key(principal)))
        return try await withClient(environment.appURL) { client in
            let database = Database(client: client, maximumConnections: 4, metricsFactory: NOOPMetricsHandler.instance)
            do {
                return try await database.withSandbox(key: key, requestID: "keys-test", logger: testLogger, body)
            } catch let error as PostgresTransactionError {
                throw error.closureError ?? error
            }
        }
    }

    /// Runs `statement` as `principal` (its own app_begin, then COMMIT); the SQLSTATE of the
    /// refusal, or nil when the database accepted it.
    private func refusal(_ fixture: TenantFixture, _ principal: String, _ statement: PostgresQuery) async throws -> String? {
        let environment = try await SharedDatabase.environment()
        return try await withConnection(environment.appURL) { connection in
            try await connection.query("BEGIN", logger: testLogger)
            let begun = try await connection.query(
                "SELECT 1 FROM app_begin(\(fixture.code.rawValue), \(ByteBuffer(bytes: APIKey(fixture.key(principal))!.hash)))",
                logger: testLogger
            ).collect()
            #expect(begun.count == 1, "\(principal) has a context")
            do {
                _ = try await connection.query(statement, logger: testLogger).collect()
                try await connection.query("COMMIT", logger: testLogger)
                return nil
            } catch let error as PSQLError {
                _ = try? await connection.query("ROLLBACK", logger: testLogger)
                return error.sqlState ?? "?"
            }
        }
    }

    /// The raw key bytes of a test master key file, for checking the documented sealed format independently.
    private func rawKey(_ masterKey: TestMasterKey) throws -> [UInt8] {
        try Hex.decode(
            try String(contentsOfFile: masterKey.path, encoding: .utf8).trimmingCharacters(in: .whitespacesAndNewlines))
    }

    // ---- sealing and signing ----

    /// The apply generated a custodial key for every org but WH-B, and the orderer's; a key's
    /// sealed private half opens (by the format the migration documents, decrypted here without
    /// the Store's code) to the private key of its public key, and a signature made by the Store
    /// verifies with ours and with the openssl command line.
    @Test func sealedKeysRoundTripAndTheirSignaturesVerifyWithOpenSSL() async throws {
        let fixture = try await ledgerFixture()
        let masterKey = try TestMasterKey.shared()
        let message = Array(#"{"version":1,"type":"transfer.received","tenant":"t","body":{"lost":"0"}}"#.utf8)
        let (histories, signature) = try await asOwner(fixture) { keys in
            (try await keys.histories(), try await keys.sign(message, as: Self.hq, masterKey: masterKey.key))
        }
        #expect(histories.map(\.owner.name) == ["HQ", "NORTH", "QA", "WH-A", "WH-C", "orderer"])
        #expect(
            histories.allSatisfy { $0.versions.count == 1 && $0.versions[0].custody == .custodial && $0.versions[0].version == 1 }
        )
        let hqKey = try #require(histories.first { $0.owner == Self.hq }?.versions.first)
        #expect(signature.owner == Self.hq && signature.version == 1)
        #expect(try hqKey.publicKey.isValidSignature(signature.signature, for: message))

        let environment = try await SharedDatabase.environment()
        let (sealedDataKey, sealedPrivateKey) = try await withConnection(environment.ownerURL) { connection in
            let dataKey = try await connection.query(
                "SELECT sealed_key FROM tenant_data_keys WHERE tenant_id = \(fixture.tenantID.rawValue) AND version = 1",
                logger: testLogger
            ).collect().first!.decode(ByteBuffer.self)
            let privateKey = try await connection.query(
                "SELECT sealed_private_key FROM custodial_private_keys WHERE tenant_id = \(fixture.tenantID.rawValue) AND owner = 'HQ'",
                logger: testLogger
            ).collect().first!.decode(ByteBuffer.self)
            return (Array(dataKey.readableBytesView), Array(privateKey.readableBytesView))
        }
        let dataKey = try SM4.Sealed.open(
            key: try rawKey(masterKey), sealed: sealedDataKey,
            associatedData: Array("orgmatrix:tenant-data-key:v1|\(fixture.tenantID)|1".utf8))
        let plaintext = try SM4.Sealed.open(
            key: dataKey, sealed: sealedPrivateKey,
            associatedData: Array("orgmatrix:org-private-key:v1|\(fixture.tenantID)|HQ|1".utf8))
        #expect(try SM2PrivateKey(derRepresentation: plaintext).publicKey == hqKey.publicKey)
        // Bound to where it belongs: the same bytes do not open as another owner's key.
        #expect(throws: SMCryptoError.self) {
            try SM4.Sealed.open(
                key: dataKey, sealed: sealedPrivateKey,
                associatedData: Array("orgmatrix:org-private-key:v1|\(fixture.tenantID)|QA|1".utf8))
        }

        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("keys-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let (pub, file, sig) = (
            directory.appendingPathComponent("hq.pem"), directory.appendingPathComponent("tx.json"),
            directory.appendingPathComponent("sig.der")
        )
        try Data(hqKey.publicKey.pemRepresentation.utf8).write(to: pub)
        try Data(message).write(to: file)
        try Data(signature.signature.derRepresentation).write(to: sig)
        let verified = try runProcess(
            "openssl",
            ["dgst", "-sm3", "-verify", pub.path, "-sigopt", "distid:1234567812345678", "-signature", sig.path, file.path])
        #expect(verified.status == 0 && verified.text.contains("Verified OK"), "\(verified.text) \(verified.standardError)")
        try Data(message.dropLast()).write(to: file)
        let altered = try runProcess(
            "openssl",
            ["dgst", "-sm3", "-verify", pub.path, "-sigopt", "distid:1234567812345678", "-signature", sig.path, file.path])
        #expect(altered.status != 0)
    }

    /// A warehouse's principal (the application role) signs for itself and for its settlement
    /// org, outside its sandbox, with the master key: the sealed rows are all it can read.
    @Test func aPrincipalSignsWithCustodialKeysThroughItsSandbox() async throws {
        let fixture = try await ledgerFixture()
        let masterKey = try TestMasterKey.shared().key
        let message = Array("dispatch 42".utf8)
        let north = KeyOwner.org(try OrgCode("NORTH"))
        let (signatures, histories) = try await asPrincipal(fixture, "a-operator") { sandbox in
            (
                [
                    try await sandbox.keys.sign(message, as: Self.whA, masterKey: masterKey),
                    try await sandbox.keys.sign(message, as: north, masterKey: masterKey),
                ],
                [try await sandbox.keys.history(of: Self.whA), try await sandbox.keys.history(of: north)]
            )
        }
        for (signature, history) in zip(signatures, histories) {
            #expect(try history.versions[0].publicKey.isValidSignature(signature.signature, for: message), "\(history.owner)")
        }
    }

    @Test func aWrongMasterKeyIsAClearErrorAndChangesNothing() async throws {
        let fixture = try await ledgerFixture()
        let other = try TestMasterKey.make()
        defer { try? FileManager.default.removeItem(atPath: other.path) }
        let before = try await fixture.rowCounts()
        let signing = await #expect(throws: KeyError.self) {
            try await asOwner(fixture) { keys in try await keys.sign([1, 2, 3], as: Self.hq, masterKey: other.key) }
        }
        #expect(signing?.code == .wrongMasterKey)
        #expect(signing?.detail.contains(other.path) == true, "\(String(describing: signing))")
        let rotating = await #expect(throws: KeyError.self) {
            try await asOwner(fixture) { keys in try await keys.generateCustodialKey(for: Self.hq, masterKey: other.key) }
        }
        #expect(rotating?.code == .wrongMasterKey)
        #expect(try await fixture.rowCounts() == before)
    }

    /// A sealed private key the owner altered does not open, and signs nothing: named, not used.
    /// (A process that opened the key before keeps it in memory, `UnsealedKeys`; a fresh one,
    /// from the same key file, meets the damage.)
    @Test func anAlteredSealedKeyIsNamedAndSignsNothing() async throws {
        let fixture = try await ledgerFixture()
        try await fixture.tamper(disabling: ["custodial_private_keys"]) { connection, tenant in
            try await connection.query(
                """
                UPDATE custodial_private_keys SET sealed_private_key = overlay(sealed_private_key PLACING '\\xff'::bytea FROM 20 FOR 1)
                WHERE tenant_id = \(tenant) AND owner = 'HQ'
                """, logger: testLogger)
        }
        let fresh = try MasterKey(contentsOfFile: try TestMasterKey.shared().path)
        let damaged = await #expect(throws: KeyError.self) {
            try await asOwner(fixture) { keys in try await keys.sign([1, 2, 3], as: Self.hq, masterKey: fresh) }
        }
        #expect(damaged?.code == .sealedKeyDamaged, "\(String(describing: damaged))")
        #expect(damaged?.detail.contains("HQ version 1") == true, "\(String(describing: damaged))")
        // Another owner's key still signs, twice (the second time from memory) and verifiably.
        let signed = try await asOwner(fixture) { keys in
            [try await keys.sign([4, 5], as: Self.whA, masterKey: fresh), try await keys.sign([4, 5], as: Self.whA, masterKey: fresh)]
        }
        let history = try await asOwner(fixture) { keys in try await keys.history(of: Self.whA) }
        #expect(try signed.allSatisfy { try history.versions[0].publicKey.isValidSignature($0.signature, for: [4, 5]) })
    }

    // ---- what the database keeps ----

    /// The application role reads sealed bytes only, of its own tenant only; without a principal it
    /// reads nothing, and the auditor may not read the sealed tables at all.
    @Test func theApplicationRoleReadsOnlySealedKeysOfItsOwnTenant() async throws {
        let fixture = try await ledgerFixture()
        let stranger = try await ledgerFixture()
        let masterKey = try TestMasterKey.shared()
        let environment = try await SharedDatabase.environment()
        let sealed = try await withConnection(environment.appURL) { connection in
            try await connection.query("BEGIN", logger: testLogger)
            _ = try await connection.query(
                "SELECT 1 FROM app_begin(\(fixture.code.rawValue), \(ByteBuffer(bytes: APIKey(fixture.key("c-operator"))!.hash)))",
                logger: testLogger
            ).collect()
            let rows = try await connection.query(
                "SELECT tenant_id, owner, sealed_private_key FROM custodial_private_keys", logger: testLogger
            ).collect().map { try $0.decode((UUID, String, ByteBuffer).self) }
            let dataKeys = try await connection.query("SELECT tenant_id FROM tenant_data_keys", logger: testLogger)
                .collect().map { try $0.decode(UUID.self) }
            try await connection.query("ROLLBACK", logger: testLogger)
            return (rows, dataKeys)
        }
        #expect(Set(sealed.0.map(\.1)) == ["HQ", "NORTH", "QA", "WH-A", "WH-C", "orderer"] && sealed.0.count == 6)
        #expect(sealed.0.allSatisfy { $0.0 == fixture.tenantID.rawValue } && sealed.1 == [fixture.tenantID.rawValue])
        // What it read is ciphertext: the private key inside is nowhere in it.
        let dataKey = try await withConnection(environment.ownerURL) { connection in
            try await connection.query(
                "SELECT sealed_key FROM tenant_data_keys WHERE tenant_id = \(fixture.tenantID.rawValue)", logger: testLogger
            ).collect().first!.decode(ByteBuffer.self)
        }
        let opened = try SM4.Sealed.open(
            key: try rawKey(masterKey), sealed: Array(dataKey.readableBytesView),
            associatedData: Array("orgmatrix:tenant-data-key:v1|\(fixture.tenantID)|1".utf8))
        for (_, owner, bytes) in sealed.0 {
            let plaintext = try SM4.Sealed.open(
                key: opened, sealed: Array(bytes.readableBytesView),
                associatedData: Array("orgmatrix:org-private-key:v1|\(fixture.tenantID)|\(owner)|1".utf8))
            let scalar = try SM2PrivateKey(derRepresentation: plaintext).rawRepresentation
            #expect(!Array(bytes.readableBytesView).containsRun(scalar), "\(owner)")
            #expect(!Array(bytes.readableBytesView).containsRun(plaintext), "\(owner)")
        }

        let bare = try await withConnection(environment.appURL) { connection in
            try await connection.query(
                """
                SELECT (SELECT count(*)::int FROM custodial_private_keys) + (SELECT count(*)::int FROM tenant_data_keys)
                    + (SELECT count(*)::int FROM org_keys)
                """, logger: testLogger
            ).collect().first!.decode(Int.self)
        }
        #expect(bare == 0)
        for table in ["custodial_private_keys", "tenant_data_keys"] {
            let error = await #expect(throws: PSQLError.self) {
                try await withConnection(environment.auditorURL) { connection in
                    try await connection.query(PostgresQuery(unsafeSQL: "SELECT count(*) FROM \(table)"), logger: testLogger)
                }
            }
            #expect(error?.sqlState == "42501", "\(table)")
        }
        // The other tenant has sealed keys too; none of them reached this principal.
        let strangers = try await withConnection(environment.ownerURL) { connection in
            try await connection.query(
                "SELECT count(*)::int FROM custodial_private_keys WHERE tenant_id = \(stranger.tenantID.rawValue)",
                logger: testLogger
            ).collect().first!.decode(Int.self)
        }
        #expect(strangers == 6)
    }

    /// Nobody updates or deletes a key row: the application role has no grant, and the owner meets
    /// the append-only triggers. Every attempt changes nothing.
    @Test(arguments: ["tenant_data_keys", "org_keys", "custodial_private_keys", "org_key_revocations", "ledger_settings"])
    func keyRowsAreNeverUpdatedOrDeleted(table: String) async throws {
        let fixture = try await ledgerFixture()
        _ = try await asOwner(fixture) { keys in try await keys.revoke(owner: Self.hq, version: 1, reason: "rows for every table")
        }
        let before = try await fixture.rowCounts()
        let environment = try await SharedDatabase.environment()
        let column = [
            "tenant_data_keys": "version", "org_keys": "version", "custodial_private_keys": "version",
            "org_key_revocations": "reason",
            "ledger_settings": "version",
        ][table]!
        let value = column == "reason" ? "'changed'" : "7"
        let statements = [
            "UPDATE \(table) SET \(column) = \(value) WHERE tenant_id = '\(fixture.tenantID)'",
            "DELETE FROM \(table) WHERE tenant_id = '\(fixture.tenantID)'",
        ]
        for statement in statements {
            let refusedToApp = await #expect(throws: PSQLError.self) {
                try await withConnection(environment.appURL) { connection in
                    try await connection.query("BEGIN", logger: testLogger)
                    _ = try await connection.query(
                        "SELECT 1 FROM app_begin(\(fixture.code.rawValue), \(ByteBuffer(bytes: APIKey(fixture.key("hq-admin"))!.hash)))",
                        logger: testLogger
                    ).collect()
                    try await connection.query(PostgresQuery(unsafeSQL: statement), logger: testLogger)
                    try await connection.query("COMMIT", logger: testLogger)
                }
            }
            #expect(refusedToApp?.sqlState == "42501", "app: \(statement)")
            let refusedToOwner = await #expect(throws: PSQLError.self) {
                try await withConnection(environment.ownerURL) { connection in
                    try await connection.query(PostgresQuery(unsafeSQL: statement), logger: testLogger)
                }
            }
            #expect(refusedToOwner?.sqlState == "42501", "owner: \(statement)")
        }
        #expect(try await fixture.rowCounts() == before)
    }

    /// Nor does the owner truncate an append-only table. TRUNCATE … CASCADE takes an exclusive lock
    /// on every table that references this one, which in the shared database would queue behind the
    /// other tests' transactions and deadlock them; the trigger is the same in a database of its own.
    @Test func theOwnerCannotTruncateAnAppendOnlyTable() async throws {
        try await ThrowawayDatabase.with { database in
            for table in [
                "tenant_data_keys", "org_keys", "custodial_private_keys", "org_key_revocations", "ledger_settings",
                "ledger_transactions", "ledger_endorsements", "ledger_disputes", "ledger_commits", "ledger_blocks",
                "ledger_block_entries",
            ] {
                let refused = await #expect(throws: PSQLError.self) {
                    try await withConnection(database.ownerURL) { connection in
                        try await connection.query(PostgresQuery(unsafeSQL: "TRUNCATE \(table) CASCADE"), logger: testLogger)
                    }
                }
                #expect(refused?.sqlState == "42501", "\(table)")
            }
        }
    }

    /// The database, not the writer, decides a key's version, start and registrant: a client-held
    /// org's principal registers its own key (and revokes it), but nobody else's, no custodial key,
    /// and only while the ledger settings list it as client-held.
    @Test func anOrgsPrincipalRegistersOnlyItsOwnClientHeldKey() async throws {
        let fixture = try await ledgerFixture()
        let pem = SM2PrivateKey.generate().publicKey.pemRepresentation
        let registered = try await asPrincipal(fixture, "b-operator") { sandbox in
            try await sandbox.keys.registerClientKey(org: Self.whB, publicKeyPEM: pem)
        }
        #expect(registered.version == 1 && registered.custody == .client)
        let environment = try await SharedDatabase.environment()
        let (registeredBy, principal) = try await withConnection(environment.ownerURL) { connection in
            let by = try await connection.query(
                "SELECT registered_by FROM org_keys WHERE tenant_id = \(fixture.tenantID.rawValue) AND owner = 'WH-B'",
                logger: testLogger
            ).collect().first!.decode(Int64?.self)
            let id = try await connection.query(
                "SELECT principal_id FROM principals WHERE tenant_id = \(fixture.tenantID.rawValue) AND name = 'b-operator'",
                logger: testLogger
            ).collect().first!.decode(Int64.self)
            return (by, id)
        }
        #expect(registeredBy == principal)

        let before = try await fixture.rowCounts()
        let tenant = fixture.tenantID.rawValue
        let orgs = try await withConnection(environment.ownerURL) { connection in
            var ids: [String: Int64] = [:]
            for try await (code, id) in try await connection.query(
                "SELECT code, org_id FROM orgs WHERE tenant_id = \(tenant)", logger: testLogger
            ).decode((String, Int64).self) { ids[code] = id }
            return ids
        }
        let (whA, whB) = (orgs["WH-A"]!, orgs["WH-B"]!)
        let other = ByteBuffer(bytes: SM2PrivateKey.generate().publicKey.derRepresentation)
        let refusals: [(String, PostgresQuery)] = [
            // Another org's key, a custodial key, a chosen start, a skipped version.
            (
                "b-operator",
                "INSERT INTO org_keys (tenant_id, owner, org_id, version, custody, public_key) VALUES (\(tenant), 'WH-A', \(whA), 1, 'client', \(other))"
            ),
            (
                "b-operator",
                "INSERT INTO org_keys (tenant_id, owner, org_id, version, custody, public_key) VALUES (\(tenant), 'WH-B', \(whB), 2, 'custodial', \(other))"
            ),
            (
                "b-operator",
                "INSERT INTO org_keys (tenant_id, owner, org_id, version, custody, public_key, valid_from) VALUES (\(tenant), 'WH-B', \(whB), 2, 'client', \(other), '2020-01-01')"
            ),
            (
                "b-operator",
                "INSERT INTO org_keys (tenant_id, owner, org_id, version, custody, public_key) VALUES (\(tenant), 'WH-B', \(whB), 5, 'client', \(other))"
            ),
            // An org the settings do not list as client-held, and a role that registers nothing.
            (
                "a-operator",
                "INSERT INTO org_keys (tenant_id, owner, org_id, version, custody, public_key) VALUES (\(tenant), 'WH-A', \(whA), 2, 'client', \(other))"
            ),
            (
                "b-integration",
                "INSERT INTO org_keys (tenant_id, owner, org_id, version, custody, public_key) VALUES (\(tenant), 'WH-B', \(whB), 2, 'client', \(other))"
            ),
            // Someone else's revocation, and the owner's tables.
            (
                "b-operator",
                "INSERT INTO org_key_revocations (tenant_id, owner, version, reason) VALUES (\(tenant), 'HQ', 1, 'not mine')"
            ),
            (
                "b-operator",
                "INSERT INTO custodial_private_keys (tenant_id, owner, version, data_key_version, sealed_private_key) VALUES (\(tenant), 'WH-B', 1, 1, \(other))"
            ),
            (
                "hq-admin",
                "INSERT INTO tenant_data_keys (tenant_id, version, sealed_key, master_key_fingerprint) VALUES (\(tenant), 2, \(ByteBuffer(bytes: [UInt8](repeating: 1, count: 45))), \(String(repeating: "0", count: 64)))"
            ),
            (
                "hq-admin",
                "INSERT INTO ledger_settings (tenant_id, version, hq_org_id, hq_code, client_held, policies) VALUES (\(tenant), 2, \(orgs["HQ"]!), 'HQ', '{}', '{}')"
            ),
        ]
        for (principal, statement) in refusals {
            let state = try await refusal(fixture, principal, statement)
            #expect(state == "42501" || state == "23514", "\(principal): \(statement.sql) → \(state ?? "accepted")")
        }
        #expect(try await fixture.rowCounts() == before)

        let revocation = try await asPrincipal(fixture, "b-operator") { sandbox in
            try await sandbox.keys.revoke(owner: .org(Self.whB), version: 1, reason: "the laptop was stolen")
        }
        #expect(revocation.reason == "the laptop was stolen")
    }

    // ---- rotation, revocation, lookup ----

    /// A rotation ends the old version at the new one's start, a revocation ends a version at
    /// once, and the lookup follows both; each transaction's now() is the moment it records.
    @Test func theValidKeyFollowsRotationAndRevocation() async throws {
        let fixture = try await ledgerFixture()
        let masterKey = try TestMasterKey.shared().key
        let v1 = try #require(try await asOwner(fixture) { keys in try await keys.history(of: Self.hq).latest })
        let v2 = try await asOwner(fixture) { keys in try await keys.generateCustodialKey(for: Self.hq, masterKey: masterKey) }
        let signedByV2 = try await asOwner(fixture) { keys in try await keys.sign([42], as: Self.hq, masterKey: masterKey) }
        let revoked = try await asOwner(fixture) { keys in
            try await keys.revoke(owner: Self.hq, version: 2, reason: "rotated in error")
        }
        let history = try await asOwner(fixture) { keys in try await keys.history(of: Self.hq) }

        #expect(v2.version == 2 && v1.validFrom < v2.validFrom && v2.validFrom <= revoked.revokedAt)
        #expect(signedByV2.version == 2)
        #expect(try v2.publicKey.isValidSignature(signedByV2.signature, for: [42]))
        #expect(history.validTo(version: 1) == v2.validFrom)
        #expect(history.validTo(version: 2) == revoked.revokedAt)
        let lookups = try await asOwner(fixture) { keys in
            [
                try await keys.validKey(for: Self.hq, at: v1.validFrom.addingTimeInterval(-1))?.version,
                try await keys.validKey(for: Self.hq, at: v1.validFrom)?.version,
                try await keys.validKey(for: Self.hq, at: v2.validFrom)?.version,
                try await keys.validKey(for: Self.hq, at: revoked.revokedAt)?.version,
            ]
        }
        #expect(lookups == [nil, 1, 2, nil])
        let unsigned = await #expect(throws: KeyError.self) {
            try await asOwner(fixture) { keys in try await keys.sign([42], as: Self.hq, masterKey: masterKey) }
        }
        #expect(unsigned?.code == .noValidKey)
        let v3 = try await asOwner(fixture) { keys in try await keys.generateCustodialKey(for: Self.hq, masterKey: masterKey) }
        #expect(try await asOwner(fixture) { keys in try await keys.validKey(for: Self.hq, at: v3.validFrom)?.version } == 3)
    }

    // ---- refusals ----

    private static func pem(_ der: [UInt8]) -> String {
        "-----BEGIN PUBLIC KEY-----\n\(Data(der).base64EncodedString())\n-----END PUBLIC KEY-----\n"
    }

    @Test func everyRefusalNamesItsFieldAndChangesNothing() async throws {
        let fixture = try await ledgerFixture()
        let masterKey = try TestMasterKey.shared().key
        let good = SM2PrivateKey.generate().publicKey
        let offCurve: [UInt8] = {
            var der = good.derRepresentation
            der[der.count - 1] ^= 0x01
            return der
        }()
        let ghost = try OrgCode("GHOST")
        _ = try await asOwner(fixture) { keys in
            try await keys.registerClientKey(org: Self.whB, publicKeyPEM: good.pemRepresentation)
        }
        let hqPublic = try #require(try await asOwner(fixture) { keys in try await keys.history(of: Self.hq).latest?.publicKey })
        let before = try await fixture.rowCounts()

        let cases: [(KeyError.Code, String, @Sendable (Keys) async throws -> Void)] = [
            (
                .malformedPublicKey, "public_key",
                {
                    _ = try await $0.registerClientKey(
                        org: Self.whB, publicKeyPEM: "-----BEGIN PUBLIC KEY-----\nnot base64\n-----END PUBLIC KEY-----\n")
                }
            ),
            (
                .malformedPublicKey, "public_key",
                { _ = try await $0.registerClientKey(org: Self.whB, publicKeyPEM: SM2PrivateKey.generate().pemRepresentation) }
            ),
            (
                .publicKeyNotOnCurve, "public_key",
                { _ = try await $0.registerClientKey(org: Self.whB, publicKeyPEM: Self.pem(offCurve)) }
            ),
            (
                .duplicateKey, "public_key",
                { _ = try await $0.registerClientKey(org: Self.whB, publicKeyPEM: good.pemRepresentation) }
            ),
            (
                .duplicateKey, "public_key",
                { _ = try await $0.registerClientKey(org: Self.whB, publicKeyPEM: hqPublic.pemRepresentation) }
            ),
            (
                .unknownOrg, "org",
                {
                    _ = try await $0.registerClientKey(
                        org: ghost, publicKeyPEM: SM2PrivateKey.generate().publicKey.pemRepresentation)
                }
            ),
            (
                .notClientHeld, "org",
                {
                    _ = try await $0.registerClientKey(
                        org: try OrgCode("WH-A"), publicKeyPEM: SM2PrivateKey.generate().publicKey.pemRepresentation)
                }
            ),
            (.noSuchKey, "version", { _ = try await $0.revoke(owner: Self.hq, version: 2, reason: "no such version") }),
            (.invalidReason, "reason", { _ = try await $0.revoke(owner: Self.hq, version: 1, reason: " ") }),
            (.notCustodial, "owner", { _ = try await $0.sign([1], as: .org(Self.whB), masterKey: masterKey) }),
            (.noValidKey, "owner", { _ = try await $0.sign([1], as: .org(ghost), masterKey: masterKey) }),
            (.unknownOrg, "org", { _ = try await $0.generateCustodialKey(for: .org(ghost), masterKey: masterKey) }),
        ]
        for (index, (code, field, attempt)) in cases.enumerated() {
            let error = await #expect(throws: KeyError.self, "case \(index)") {
                try await asOwner(fixture) { keys in try await attempt(keys) }
            }
            #expect(error?.code == code, "case \(index): \(String(describing: error))")
            #expect(error?.field == field, "case \(index): \(String(describing: error))")
        }
        _ = try await asOwner(fixture) { keys in try await keys.revoke(owner: Self.hq, version: 1, reason: "compromised") }
        let after = try await fixture.rowCounts()
        let twice = await #expect(throws: KeyError.self) {
            try await asOwner(fixture) { keys in try await keys.revoke(owner: Self.hq, version: 1, reason: "again") }
        }
        #expect(twice?.code == .alreadyRevoked && twice?.field == "version")
        #expect(try await fixture.rowCounts() == after)
        var expected = before
        expected["org_key_revocations", default: 0] += 1
        #expect(after == expected)
    }

    // ---- the master key file ----

    @Test func aMasterKeyFileReadableByOthersIsRefusedNamingItsPathAndMode() throws {
        let file = try TestMasterKey.make()
        defer { try? FileManager.default.removeItem(atPath: file.path) }
        for mode in [0o644, 0o640, 0o604] {
            try FileManager.default.setAttributes([.posixPermissions: mode], ofItemAtPath: file.path)
            let error = #expect(throws: KeyError.self) { try MasterKey(contentsOfFile: file.path) }
            #expect(error?.code == .masterKeyFileExposed)
            #expect(
                error?.detail.contains(file.path) == true && error?.detail.contains("0" + String(mode, radix: 8)) == true,
                "\(String(describing: error))")
        }
        try FileManager.default.setAttributes([.posixPermissions: 0o400], ofItemAtPath: file.path)
        #expect(try MasterKey(contentsOfFile: file.path).fingerprint == file.key.fingerprint)
    }

    @Test(arguments: [
        "", "abc", String(repeating: "g", count: 32), String(repeating: "a", count: 31), String(repeating: "a", count: 34),
        String(repeating: "a", count: 32) + " extra",
    ])
    func aMasterKeyFileMustHoldExactly32HexDigits(content: String) throws {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("bad-master-\(UUID().uuidString).key").path
        defer { try? FileManager.default.removeItem(atPath: path) }
        try TestMasterKey.write(content, to: path, mode: 0o600)
        let error = #expect(throws: KeyError.self) { try MasterKey(contentsOfFile: path) }
        #expect(error?.code == .masterKeyFileUnusable)
        #expect(error?.detail.contains(path) == true)
    }

    @Test func aMissingMasterKeyFileIsNamedAndTheKeyNeverAppearsInText() throws {
        let missing = "/nonexistent/master-\(UUID().uuidString).key"
        let error = #expect(throws: KeyError.self) { try MasterKey(contentsOfFile: missing) }
        #expect(error?.code == .masterKeyFileUnusable && error?.detail.contains(missing) == true)
        let file = try TestMasterKey.make()
        defer { try? FileManager.default.removeItem(atPath: file.path) }
        let hex = try String(contentsOfFile: file.path, encoding: .utf8).trimmingCharacters(in: .whitespacesAndNewlines)
        for text in [
            String(describing: file.key), String(reflecting: file.key),
            {
                var out = ""; dump(file.key, to: &out); return out
            }(),
        ] {
            #expect(!text.lowercased().contains(hex.lowercased()))
        }
        #expect(String(describing: file.key).contains(file.key.fingerprint.prefix(16)))
        #expect(file.key.fingerprint == Hex.encode(SM3.hash(try Hex.decode(hex))))
    }
}

extension Array where Element == UInt8 {
    /// Whether `needle` occurs as a contiguous run.
    fileprivate func containsRun(_ needle: [UInt8]) -> Bool {
        guard !needle.isEmpty, needle.count <= count else { return needle.isEmpty }
        return (0...(count - needle.count)).contains { Array(self[$0..<($0 + needle.count)]) == needle }
    }
}
