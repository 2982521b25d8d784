import ArgumentParser
import Foundation
import Logging
import Metrics
import NIOCore
import OrgMatrixCore
import OrgMatrixStore
import PostgresNIO
import SMCrypto

/// `orgmatrix-bench bundle`: what `orgmatrix ledger export` and `verify-bundle` cost on a large
/// ledger: their throughput (transactions per second) and peak resident memory, each run as the
/// product's own executable on a tenant of `--transactions` transactions.
///
/// The API commits about 24 transactions a second (`orgmatrix-bench ledger`), so a million would
/// take half a day. The tenant is made the way a long life would leave it, faster: one transfer
/// 北京中心仓 → 上海 is dispatched and endorsed through the Store (BJ-CW and SH-FW hold their
/// own keys here, generated for the run and registered as `orgmatrix keys register` does), then
/// the owner clones it: each clone a transfer row and its lines, and its own `transfer.dispatched`
/// transaction (the template's canonical bytes with its `transfer_id`), signed by both orgs'
/// keys, committed; with the clones' triggers off, since the rows are copies of a checked one.
/// Blocks are sealed as the sealer seals them (Core's `BlockHeader.seal`, the orderer's custodial
/// key), with the block triggers on.
struct BenchBundle: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bundle",
        abstract: "Export and verify-bundle throughput and peak memory on a tenant of N generated transactions.")

    @Option(help: "Transfer transactions to generate (besides the tenant's own key and rule events).") var transactions: Int = 10_000
    @Option(help: "Transactions per sealed block.") var blockTransactions: Int = 500
    @Option(help: "Transactions written per database transaction while generating.") var batch: Int = 2000
    @Option(help: "Where the bundle goes (default: a scratch folder, removed afterwards).") var out: String?
    @Option(help: "The orgmatrix executable (default: the one beside this benchmark).") var orgmatrix: String?
    @Option(help: "The tenant file (it must have a ledger section).") var tenantFile: String = "Tenants/dairy.yaml"
    @Option(help: "The seed file whose items the tenant gets.") var seedFile: String = "Seeds/dairy-demo.yaml"
    @Flag(help: "Keep the scratch database afterwards.") var keepDatabase = false
    @OptionGroup var database: BenchDatabaseOptions

    func validate() throws {
        guard (1...2_000_000).contains(transactions) else { throw ValidationError("--transactions must be 1–2000000") }
        guard (1...100_000).contains(blockTransactions) else { throw ValidationError("--block-transactions must be 1–100000") }
        guard (1...20_000).contains(batch) else { throw ValidationError("--batch must be 1–20000") }
    }

    func run() async throws {
        try Settings.bootstrapLogging(format: .text, level: "warning")
        let logger = Logger(label: "orgmatrix.bench")
        let (file, items) = try readTenantAndItems(tenantFile: tenantFile, seedFile: seedFile)
        guard let ledger = file.ledger else { throw BenchFailure("\(tenantFile) has no ledger section") }
        let executable =
            orgmatrix
            ?? URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent().appendingPathComponent("orgmatrix").path
        guard FileManager.default.isExecutableFile(atPath: executable) else {
            throw BenchFailure("no orgmatrix executable at \(executable) (build it, or give --orgmatrix)")
        }
        let ownerURL = try Settings.databaseURL(flag: nil, environmentKey: "OWNER_DATABASE_URL", dataDir: database.dataDir)
        let appURL = try Settings.databaseURL(flag: database.databaseURL, environmentKey: "DATABASE_URL", dataDir: database.dataDir)
        try await withScratchDatabase(ownerURL: ownerURL, keep: keepDatabase, logger: logger) { name in
            let run = BundleRun(
                options: self, ledger: ledger, file: file, items: items, executable: executable,
                ownerURL: ownerURL.replacingDatabase(name.rawValue), appURL: appURL.replacingDatabase(name.rawValue), logger: logger)
            try await run.run()
        }
    }
}

private struct BundleRun {
    let options: BenchBundle
    let ledger: TenantFile.LedgerEntry
    let file: TenantFile
    let items: [Item]
    let executable: String
    let ownerURL: DatabaseURL
    let appURL: DatabaseURL
    let logger: Logger

    static let (sender, senderPrincipal, receiver, receiverPrincipal) = ("BJ-CW", "central-operator", "SH-FW", "sh-operator")

    func run() async throws {
        let started = ContinuousClock.now
        let masterKey = try MasterKey(rawRepresentation: SMCrypto.randomBytes(SM4.keyByteCount), source: "a key of this benchmark run")
        let migrator = try Migrator.load(directory: options.database.schemaDir)
        try await Settings.withClient(ownerURL, logger: logger) { client in _ = try await migrator.migrate(client: client, logger: logger) }

        // The tenant, with the two orgs of the template transfer holding their own keys.
        let clientHeld = Array(Set((ledger.clientHeld ?? []) + [Self.sender, Self.receiver])).sorted()
        let definition = try TenantDefinition.validate(
            TenantFile(
                tenant: file.tenant, orgs: file.orgs, relations: file.relations, principals: file.principals, pricing: file.pricing,
                ledger: TenantFile.LedgerEntry(hq: ledger.hq, clientHeld: clientHeld, policies: ledger.policies)))
        let senderKey = SM2PrivateKey.generate()
        let receiverKey = SM2PrivateKey.generate()
        let outcome = try await Settings.withClient(ownerURL, logger: logger) { client in
            let outcome = try await TenantAdmin(client: client, logger: logger, masterKey: masterKey).apply(definition, dryRun: false)
            let admin = KeyAdmin(client: client, logger: logger, masterKey: masterKey)
            for (org, key) in [(Self.sender, senderKey), (Self.receiver, receiverKey)] {
                _ = try await admin.register(tenant: definition.code, org: try OrgCode(org), publicKeyPEM: key.publicKey.pemRepresentation)
            }
            return outcome
        }
        func key(_ principal: String) throws -> APIKey {
            guard let text = outcome.keys[principal], let key = APIKey(text) else { throw BenchFailure("no principal \(principal)") }
            return key
        }
        let tenantID = outcome.tenantID

        // The template: one transfer dispatched through the Store, endorsed by both orgs.
        let template = try await Settings.withClient(appURL, logger: logger) { client -> LedgerHash in
            let database = Database(client: client, maximumConnections: 1, metricsFactory: NOOPMetricsHandler.instance, masterKey: masterKey)
            let items = self.items
            try await database.withSandbox(key: try key("hq-admin"), requestID: "bench", logger: logger) { sandbox in
                for item in items { _ = try await sandbox.createItem(item) }
            }
            let lines = [PostingLine(itemCode: "MILK-FRESH", quantity: "40", unitFen: 380)]
            let hash = try await database.withSandbox(key: try key(Self.senderPrincipal), requestID: "bench", logger: logger) { sandbox in
                _ = try await sandbox.postPurchaseReceipt(supplier: "bench stock", lines: lines)
                let transfer = try await sandbox.createTransfer(
                    to: try OrgCode(Self.receiver), lines: lines.map { PostingLine(itemCode: $0.itemCode, quantity: $0.quantity, unitFen: 0) })
                let dispatched = try await sandbox.dispatchTransfer(id: transfer.id)
                guard let step = dispatched.evidence.first(where: { $0.type == .transferDispatched }) else {
                    throw BenchFailure("the dispatch wrote no transaction")
                }
                return step.hash
            }
            for (principal, org, signer) in [(Self.senderPrincipal, Self.sender, senderKey), (Self.receiverPrincipal, Self.receiver, receiverKey)] {
                _ = try await database.withSandbox(key: try key(principal), requestID: "bench", logger: logger) { sandbox in
                    let record = try await sandbox.ledgerTransaction(hash: hash)!
                    return try await sandbox.endorseLedgerTransaction(
                        hash: hash, org: try OrgCode(org), keyVersion: 1, signatureDER: try signer.signature(for: record.canonicalBytes).derRepresentation)
                }
            }
            return hash
        }

        // The clones.
        let generated = try await BenchConnection.with(ownerURL, logger) { connection in
            try await clone(template, tenantID: tenantID, keys: (senderKey, receiverKey), connection: connection)
        }
        let blocks = try await BenchConnection.with(ownerURL, logger) { connection in
            try await seal(tenantID: tenantID, tenant: definition.code, masterKey: masterKey, connection: connection)
        }
        print(
            String(format: "generated in %.1f s: ", seconds(ContinuousClock.now - started))
                + "\(generated.transactions) transactions (\(generated.cloned) cloned transfers), \(blocks) blocks of ≤ \(options.blockTransactions)")

        // The product's two commands, each a process of its own.
        let folder = options.out ?? FileManager.default.temporaryDirectory.appendingPathComponent("bench-bundle-\(UUID().uuidString)").path
        defer { if options.out == nil { try? FileManager.default.removeItem(atPath: folder) } }
        let auditor = try key("hq-auditor")
        let export = try await timed {
            try ChildProcess.measured(
                executable, ["ledger", "export", "--tenant", definition.code.rawValue, "--out", folder],
                // The URL and the key through the environment, not the command line other users can read.
                environment: [
                    "ORGMATRIX_API_KEY": auditor.text, "DATABASE_URL": Self.text(appURL),
                    "PATH": ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin",
                ])
        }
        guard export.outcome.status == 0 else { throw BenchFailure("export failed: \(export.outcome.output)") }
        let verify = try await timed {
            try ChildProcess.measured(executable, ["ledger", "verify-bundle", folder])
        }
        let total = generated.transactions
        func line(_ name: String, _ run: (outcome: (status: Int32, output: String, peakKiB: Int), seconds: Double)) -> String {
            String(
                format: "%@: %.1f s, %.0f transactions/s, peak resident memory %.1f MiB", name, run.seconds, Double(total) / run.seconds,
                Double(run.outcome.peakKiB) / 1024)
        }
        print(line("export", export) + "\n  " + export.outcome.output.trimmingCharacters(in: .whitespacesAndNewlines))
        print(line("verify-bundle", verify) + " (exit \(verify.outcome.status))\n  "
            + verify.outcome.output.trimmingCharacters(in: .whitespacesAndNewlines).replacingOccurrences(of: "\n", with: "\n  "))
        if verify.outcome.status != 0 { throw BenchFailure("verify-bundle did not pass the generated bundle") }
    }

    /// Clones the template transfer and its transaction `options.transactions` times, a batch per
    /// database transaction; returns the tenant's transaction count and the clones'.
    private func clone(
        _ template: LedgerHash, tenantID: TenantID, keys: (SM2PrivateKey, SM2PrivateKey), connection: PostgresConnection
    ) async throws -> (transactions: Int, cloned: Int) {
        let tenant = tenantID.rawValue
        let (canonical, transferID) = try await connection.query(
            "SELECT canonical, transfer_id FROM ledger_transactions WHERE tenant_id = \(tenant) AND tx_hash = \(ByteBuffer(bytes: template.bytes))",
            logger: logger
        ).collect().first!.decode((ByteBuffer, Int64).self)
        let bytes = Array(canonical.readableBytesView)
        let marker = "\"transfer_id\":\(transferID)}"
        let text = String(decoding: bytes, as: UTF8.self)
        guard text.components(separatedBy: marker).count == 2 else { throw BenchFailure("the template names its transfer_id other than once") }
        let maxID = try await connection.query("SELECT max(transfer_id) FROM transfers", logger: logger).collect().first!.decode(Int64.self)
        // Table names cannot be bound: each statement is a literal.
        let off: [PostgresQuery] = [
            "ALTER TABLE transfers DISABLE TRIGGER USER", "ALTER TABLE transfer_lines DISABLE TRIGGER USER",
            "ALTER TABLE ledger_transactions DISABLE TRIGGER USER", "ALTER TABLE ledger_endorsements DISABLE TRIGGER USER",
            "ALTER TABLE ledger_commits DISABLE TRIGGER USER",
        ]
        let on: [PostgresQuery] = [
            "ALTER TABLE transfers ENABLE TRIGGER USER", "ALTER TABLE transfer_lines ENABLE TRIGGER USER",
            "ALTER TABLE ledger_transactions ENABLE TRIGGER USER", "ALTER TABLE ledger_endorsements ENABLE TRIGGER USER",
            "ALTER TABLE ledger_commits ENABLE TRIGGER USER",
        ]
        for query in off { try await connection.query(query, logger: logger) }
        var written = 0
        while written < options.transactions {
            let count = min(options.batch, options.transactions - written)
            let ids = (0..<count).map { maxID + 1 + Int64(written + $0) }
            let documents = ids.map { Array(text.replacingOccurrences(of: marker, with: "\"transfer_id\":\($0)}").utf8) }
            let signed = try await Self.sign(documents, keys: keys)
            try await connection.query("BEGIN", logger: logger)
            try await connection.query(
                """
                INSERT INTO transfers OVERRIDING SYSTEM VALUE
                SELECT (jsonb_populate_record(NULL::transfers, to_jsonb(t) || jsonb_build_object('transfer_id', n.id))).*
                FROM transfers t, unnest(\(ids)::bigint[]) n (id) WHERE t.tenant_id = \(tenant) AND t.transfer_id = \(transferID)
                """, logger: logger)
            try await connection.query(
                """
                INSERT INTO transfer_lines
                SELECT (jsonb_populate_record(NULL::transfer_lines, to_jsonb(l) || jsonb_build_object('transfer_id', n.id))).*
                FROM transfer_lines l, unnest(\(ids)::bigint[]) n (id) WHERE l.tenant_id = \(tenant) AND l.transfer_id = \(transferID)
                """, logger: logger)
            let hashes = signed.map { ByteBuffer(bytes: $0.hash) }
            try await connection.query(
                """
                INSERT INTO ledger_transactions (tenant_id, tx_hash, tx_type, at, canonical, endorser_org_ids, transfer_id, principal_id)
                SELECT t.tenant_id, u.h, t.tx_type, t.at, u.c, t.endorser_org_ids, u.id, t.principal_id
                FROM ledger_transactions t, unnest(\(hashes)::bytea[], \(documents.map { ByteBuffer(bytes: $0) })::bytea[], \(ids)::bigint[]) u (h, c, id)
                WHERE t.tenant_id = \(tenant) AND t.tx_hash = \(ByteBuffer(bytes: template.bytes))
                """, logger: logger)
            try await connection.query(
                """
                INSERT INTO ledger_endorsements (tenant_id, tx_hash, org_id, org_code, key_version, signature, principal_id)
                SELECT e.tenant_id, u.h, e.org_id, e.org_code, e.key_version, CASE WHEN e.org_code = \(Self.sender) THEN u.s ELSE u.r END,
                    e.principal_id
                FROM ledger_endorsements e,
                    unnest(\(hashes)::bytea[], \(signed.map { ByteBuffer(bytes: $0.sender) })::bytea[], \(signed.map { ByteBuffer(bytes: $0.receiver) })::bytea[]) u (h, s, r)
                WHERE e.tenant_id = \(tenant) AND e.tx_hash = \(ByteBuffer(bytes: template.bytes))
                """, logger: logger)
            try await connection.query(
                "INSERT INTO ledger_commits (tenant_id, tx_hash) SELECT \(tenant), h FROM unnest(\(hashes)::bytea[]) h", logger: logger)
            try await connection.query("COMMIT", logger: logger)
            written += count
        }
        for query in on { try await connection.query(query, logger: logger) }
        let total = try await connection.query("SELECT count(*) FROM ledger_transactions WHERE tenant_id = \(tenant)", logger: logger)
            .collect().first!.decode(Int.self)
        return (total, written)
    }

    /// Each document's hash and both orgs' signatures, on every core.
    private static func sign(_ documents: [[UInt8]], keys: (SM2PrivateKey, SM2PrivateKey)) async throws -> [(hash: [UInt8], sender: [UInt8], receiver: [UInt8])] {
        let cores = ProcessInfo.processInfo.activeProcessorCount
        let chunk = (documents.count + cores - 1) / cores
        return try await withThrowingTaskGroup(of: (Int, [(hash: [UInt8], sender: [UInt8], receiver: [UInt8])]).self) { group in
            for start in stride(from: 0, to: documents.count, by: max(chunk, 1)) {
                let part = Array(documents[start..<min(start + chunk, documents.count)])
                group.addTask {
                    (
                        start,
                        try part.map { document in
                            (
                                SM3.hash(document), try keys.0.signature(for: document).derRepresentation,
                                try keys.1.signature(for: document).derRepresentation
                            )
                        }
                    )
                }
            }
            var parts: [(Int, [(hash: [UInt8], sender: [UInt8], receiver: [UInt8])])] = []
            for try await part in group { parts.append(part) }
            return parts.sorted { $0.0 < $1.0 }.flatMap(\.1)
        }
    }

    /// Seals every committed transaction in commit order, `blockTransactions` to a block, each
    /// block one database transaction signed by the orderer's custodial key; returns the count.
    private func seal(tenantID: TenantID, tenant: TenantCode, masterKey: MasterKey, connection: PostgresConnection) async throws -> Int {
        var waiting: [LedgerHash] = []
        for try await hash in try await connection.query(
            "SELECT tx_hash FROM ledger_commits WHERE tenant_id = \(tenantID.rawValue) ORDER BY committed_at, tx_hash", logger: logger
        ).decode(ByteBuffer.self) {
            waiting.append(try LedgerHash(Array(hash.readableBytesView)))
        }
        let keys = Keys(tenantID: tenantID, connection: connection, logger: logger)
        var log = MerkleFrontier()
        var previous: BlockHeader?
        var blocks = 0
        for start in stride(from: 0, to: waiting.count, by: options.blockTransactions) {
            let hashes = Array(waiting[start..<min(start + options.blockTransactions, waiting.count)])
            try await connection.query("BEGIN", logger: logger)
            let micros = try await connection.query("SELECT (extract(epoch FROM clock_timestamp()) * 1000000)::bigint", logger: logger)
                .collect().first!.decode(Int64.self)
            let header = try BlockHeader.seal(
                tenant: tenant, after: previous, transactions: hashes, log: &log, sealedAt: UTCMicros(microsecondsSinceEpoch: micros))
            let signed = try await keys.sign(header.canonicalBytes, as: .orderer, masterKey: masterKey)
            try await connection.query(
                """
                INSERT INTO ledger_blocks (tenant_id, number, header, block_hash, prev_hash, tx_count, log_size, sealed_at, orderer_key_version,
                    signature)
                VALUES (\(tenantID.rawValue), \(header.number), \(ByteBuffer(bytes: header.canonicalBytes)), \(ByteBuffer(bytes: header.hash.bytes)),
                    \(ByteBuffer(bytes: header.previousHash.bytes)), \(Int32(header.transactionCount)), \(header.logSize),
                    timestamptz 'epoch' + \(micros) * interval '1 microsecond', \(signed.version),
                    \(ByteBuffer(bytes: signed.signature.derRepresentation)))
                """, logger: logger)
            try await connection.query(
                """
                INSERT INTO ledger_block_entries (tenant_id, block_number, position, log_index, tx_hash)
                SELECT \(tenantID.rawValue), \(header.number), (e.n - 1)::integer, \(Int64(start)) + e.n - 1, e.tx_hash
                FROM unnest(\(hashes.map { ByteBuffer(bytes: $0.bytes) })::bytea[]) WITH ORDINALITY AS e (tx_hash, n)
                """, logger: logger)
            try await connection.query("COMMIT", logger: logger)
            previous = header
            blocks += 1
        }
        return blocks
    }

    /// `url` as a `postgres://` URL the executable parses back to it, its password included.
    static func text(_ url: DatabaseURL) -> String {
        let password = url.password.map { ":" + ($0.addingPercentEncoding(withAllowedCharacters: .alphanumerics) ?? $0) } ?? ""
        let user = url.username.addingPercentEncoding(withAllowedCharacters: .alphanumerics) ?? url.username
        return "postgres://\(user)\(password)@\(url.host):\(url.port)/\(url.database)?sslmode=\(url.tlsMode.rawValue)"
    }

    private func timed<T>(_ body: () async throws -> T) async throws -> (outcome: T, seconds: Double) {
        let started = ContinuousClock.now
        let outcome = try await body()
        return (outcome, seconds(ContinuousClock.now - started))
    }
}
