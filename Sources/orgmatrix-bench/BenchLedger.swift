import ArgumentParser
import Foundation
import Histogram
import Logging
import Metrics
import NIOCore
import OrgMatrixAPI
import OrgMatrixCore
import OrgMatrixStore
import PostgresNIO
import SMCrypto
import ServiceLifecycle
import Synchronization

/// `orgmatrix-bench ledger`: what the transfer ledger costs and how close it runs to SM2's
/// own speed, in one run on one scratch database:
///
/// 1. transactions committed per second through the API, each with custodial endorsements only
///    (the sender's at dispatch, then each org its policy awaits by `POST …/approve`: dairy's
///    sales settlement org, or with a sender-and-receiver policy the receiver), with the sealer
///    cutting blocks in the same server; then every committed transaction sealed;
/// 2. the verifier over that ledger on every core;
/// 3. SM2 sign and verify per second on every core, divided by the operations one transaction
///    needs, as the ceiling of 1 and 2;
/// 4. transfers posted per second by a tenant without a ledger section beside one with it.
///
/// Three tenants from one tenant file: its own code for 1 and 2, `<code>-plain` (the ledger
/// section dropped) and `<code>-ledger` for 4. Each gets the seed file's items and a purchase
/// that stocks the central warehouse; nothing else of the demo data.
struct BenchLedger: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "ledger",
        abstract:
            "Ledger commits/s through the API with the sealer, verifies/s, the SM2 ceiling of both, and the ledger's cost per transfer."
    )

    @Option(help: "Transactions committed in part 1's measured window.") var transactions: Int = 256
    @Option(help: "Transactions committed before the window opens (sealed and verified with the rest).") var warmup: Int = 32
    @Option(help: "Concurrent API clients in parts 1 and 4.") var clients: Int = 8
    @Option(help: "The sealer cuts a block as soon as this many committed transactions wait.") var blockTransactions: Int = 500
    @Option(help: "… or when the oldest has waited this many milliseconds.") var blockAgeMs: Int = 200
    @Option(help: "Verifier runs over the ledger; the fastest is reported.") var verifyRounds: Int = 3
    @Option(help: "Seconds per SM2 figure of the ceiling.") var cryptoSeconds: Int = 2
    @Option(help: "Cores for the verifier and the SM2 ceiling (default: the machine's).")
    var cores: Int = ProcessInfo.processInfo.activeProcessorCount
    @Option(help: "Transfers each tenant of part 4 creates, dispatches and receives per round.") var postings: Int = 96
    @Option(help: "Rounds of part 4; they alternate which tenant goes first, and the median is reported.") var postingRounds:
        Int = 2
    @Option(help: "The tenant file (it must have a ledger section).") var tenantFile: String = "Tenants/dairy.yaml"
    @Option(help: "The seed file whose items the tenants get.") var seedFile: String = "Seeds/dairy-demo.yaml"
    @Flag(help: "Keep the scratch database afterwards.") var keepDatabase = false
    @Option(help: "The in-process server's log level (JSON lines, as `orgmatrix serve` logs, into a scratch file).")
    var logLevel: String = "info"
    @OptionGroup var database: BenchDatabaseOptions

    func validate() throws {
        guard (1...256).contains(clients) else { throw ValidationError("--clients must be 1–256") }
        guard (1...1_000_000).contains(transactions) else { throw ValidationError("--transactions must be 1–1000000") }
        guard (0...10_000).contains(warmup) else { throw ValidationError("--warmup must be 0–10000") }
        guard (1...100_000).contains(blockTransactions) else { throw ValidationError("--block-transactions must be 1–100000") }
        guard (1...60_000).contains(blockAgeMs) else { throw ValidationError("--block-age-ms must be 1–60000") }
        guard (1...15).contains(verifyRounds) else { throw ValidationError("--verify-rounds must be 1–15") }
        guard (1...60).contains(cryptoSeconds) else { throw ValidationError("--crypto-seconds must be 1–60") }
        guard (1...256).contains(cores) else { throw ValidationError("--cores must be 1–256") }
        guard (1...100_000).contains(postings) else { throw ValidationError("--postings must be 1–100000") }
        guard (1...15).contains(postingRounds) else { throw ValidationError("--posting-rounds must be 1–15") }
    }

    func run() async throws {
        let serverLog = FileManager.default.temporaryDirectory.appendingPathComponent("orgmatrix-bench-\(UUID().uuidString).log")
        guard FileManager.default.createFile(atPath: serverLog.path, contents: nil),
            let logFile = try? FileHandle(forWritingTo: serverLog)
        else {
            throw BenchFailure("cannot write \(serverLog.path)")
        }
        defer { try? FileManager.default.removeItem(at: serverLog) }
        try Settings.bootstrapLogging(format: .json, level: logLevel, output: logFile)
        let logger = Logger(label: "orgmatrix.bench")
        let (file, items) = try readTenantAndItems(tenantFile: tenantFile, seedFile: seedFile)
        let ownerURL = try Settings.databaseURL(flag: nil, environmentKey: "OWNER_DATABASE_URL", dataDir: database.dataDir)
        let appURL = try Settings.databaseURL(
            flag: database.databaseURL, environmentKey: "DATABASE_URL", dataDir: database.dataDir)
        try await withScratchDatabase(ownerURL: ownerURL, keep: keepDatabase, logger: logger) { name in
            try await LedgerRun(
                options: self, file: file, items: items, ownerURL: ownerURL.replacingDatabase(name.rawValue),
                appURL: appURL.replacingDatabase(name.rawValue), logger: logger
            ).run()
        }
    }
}

/// Who does what: the central warehouse ships to three forward warehouses (orgs whose keys the
/// tenant file keeps custodial, so every step is signed on the server). Who approves a
/// dispatch is what its transaction awaits (the tenant's policy, resolved by the Store), found
/// by a probe transfer per receiver before the load.
private enum LedgerFlow {
    static let sender = (org: "BJ-CW", principal: "central-operator")
    static let receivers = [
        (org: "TY-FW", principal: "ty-operator"), (org: "SH-FW", principal: "sh-operator"),
        (org: "GZ-FW", principal: "gz-operator"),
    ]
    static let itemCreator = "hq-admin"
    /// Item, whole units per transfer, purchase cost in fen per unit for the stock.
    static let lines: [(item: String, units: Int64, unitFen: Int64)] = [
        ("MILK-FRESH", 40, 380), ("YOGURT", 6, 960), ("MILK-POWDER", 15, 2800), ("CHEESE", 2, 6200),
    ]
}

/// One tenant of the run, applied and stocked.
private struct BenchTenant {
    let code: TenantCode
    let tenantID: TenantID
    /// Principal name → API key text.
    let keys: [String: String]

    func key(_ principal: String) throws -> String {
        guard let key = keys[principal] else {
            throw BenchFailure("tenant \(code) has no principal \(principal), which the benchmark acts as")
        }
        return key
    }
}

/// Part 1's figures.
private struct CommitResult {
    /// Per receiver, the orgs that approve its dispatches, in approval order.
    let approvers: [String: [OrgCode]]
    let committedPerSecond: Double
    let latencies: CommitLoad.Latencies
    let drainSeconds: Double
    let committed: Int64
    let sealed: Int64
    let blocks: Int64
}

/// Part 2's figures.
private struct VerifyResult {
    let loadSeconds: Double
    let bestSeconds: Double
    /// The online verification: reading, verifying and the books.
    let onlineSeconds: Double
    let report: LedgerVerificationReport
    /// The bytes the SM2 ceiling signs: a transaction of this ledger.
    let sampleMessage: [UInt8]
}

/// Part 4's figures, one tenant.
private struct PostingSide {
    var rates: [Double] = []
    var latencies = Histogram<UInt64>.microseconds
    var ledgerTransactions: Int64 = 0
    var endorsements: Int64 = 0
}

private struct LedgerRun {
    let options: BenchLedger
    let file: TenantFile
    let items: [Item]
    let ownerURL: DatabaseURL
    let appURL: DatabaseURL
    let logger: Logger

    func run() async throws {
        let started = ContinuousClock.now
        let loadAtStart = Self.loadAverage()
        guard file.ledger != nil else {
            throw BenchFailure("\(options.tenantFile) has no ledger section: part 1 needs custodial keys")
        }
        let clientHeld = Set(file.ledger?.clientHeld ?? [])
        for org in [LedgerFlow.sender.org] + LedgerFlow.receivers.map(\.org) where clientHeld.contains(org) {
            throw BenchFailure("\(org) holds its own key in \(options.tenantFile); the benchmark needs it custodial")
        }
        // The run's custodial keys are sealed under a master key made for it and then forgotten
        // with the scratch database.
        let masterKey = try MasterKey(
            rawRepresentation: SMCrypto.randomBytes(SM4.keyByteCount), source: "a key of this benchmark run")
        let migrator = try Migrator.load(directory: options.database.schemaDir)
        try await Settings.withClient(ownerURL, logger: logger) { client in
            _ = try await migrator.migrate(client: client, logger: logger)
        }
        let perPostingTenant = options.postings * options.postingRounds
        let commitTransfers = LedgerFlow.receivers.count + options.warmup + options.transactions
        let commitTenant = try await prepare(code: file.tenant.code, ledger: true, transfers: commitTransfers, masterKey)
        let plain = try await prepare(code: file.tenant.code + "-plain", ledger: false, transfers: perPostingTenant, masterKey)
        let ledgered = try await prepare(code: file.tenant.code + "-ledger", ledger: true, transfers: perPostingTenant, masterKey)
        let transferIDs = try await createTransfers(commitTenant, count: commitTransfers)
        let approvers = try await probeApprovers(
            commitTenant, probes: Array(transferIDs.prefix(LedgerFlow.receivers.count)), masterKey)
        print(
            String(format: "prepared in %.1f s: ", seconds(ContinuousClock.now - started))
                + "tenants \(commitTenant.code), \(plain.code) (no ledger section), \(ledgered.code), each with \(items.count) items; "
                + "\(transferIDs.count) transfers of \(LedgerFlow.lines.count) lines created for part 1, one per receiver dispatched and approved as a probe"
        )

        let (commit, postings) = try await withServer(masterKey: masterKey) { port in
            let commit = try await measureCommits(
                commitTenant, transferIDs: Array(transferIDs.dropFirst(LedgerFlow.receivers.count)), approvers: approvers,
                port: port)
            print(String(format: "part 1 done: %.1f committed/s", commit.committedPerSecond))
            let postings = try await measurePostings(plain: plain, ledgered: ledgered, port: port)
            return (commit, postings)
        }
        let verify = try await measureVerify(commitTenant)
        print(String(format: "part 2 done: verified in %.3f s", verify.bestSeconds))
        let ceiling = try await SM2Ceiling.measure(
            cores: options.cores, duration: .seconds(options.cryptoSeconds), message: verify.sampleMessage)
        print("part 3 done")
        report(commit: commit, verify: verify, ceiling: ceiling, postings: postings, loadAtStart: loadAtStart, started: started)
    }

    // MARK: preparation

    /// Applies the tenant file under `code` (without its ledger section unless `ledger`), creates
    /// the seed's items, and stocks the sender for `transfers` transfers.
    private func prepare(code: String, ledger: Bool, transfers: Int, _ masterKey: MasterKey) async throws -> BenchTenant {
        let renamed = TenantFile(
            tenant: .init(code: code, name: file.tenant.name), orgs: file.orgs, relations: file.relations,
            principals: file.principals,
            pricing: file.pricing, ledger: ledger ? file.ledger : nil)
        let definition = try TenantDefinition.validate(renamed)
        let outcome = try await Settings.withClient(ownerURL, logger: logger) { client in
            try await TenantAdmin(client: client, logger: logger, masterKey: masterKey).apply(definition, dryRun: false)
        }
        let tenant = BenchTenant(code: definition.code, tenantID: outcome.tenantID, keys: outcome.keys)
        let creator = try apiKey(tenant, LedgerFlow.itemCreator)
        let sender = try apiKey(tenant, LedgerFlow.sender.principal)
        let items = self.items
        try await withDatabase { database in
            try await database.withSandbox(key: creator, requestID: "bench", logger: logger) { sandbox in
                for item in items { _ = try await sandbox.createItem(item) }
            }
            _ = try await database.withSandbox(key: sender, requestID: "bench", logger: logger) { sandbox in
                try await sandbox.postPurchaseReceipt(
                    supplier: "bench stock",
                    lines: LedgerFlow.lines.map {
                        PostingLine(itemCode: $0.item, quantity: String($0.units * Int64(transfers + 1)), unitFen: $0.unitFen)
                    })
            }
        }
        return tenant
    }

    /// Part 1's transfers, created beforehand (creating writes no ledger transaction), round
    /// robin to the receivers.
    private func createTransfers(_ tenant: BenchTenant, count: Int) async throws -> [Int64] {
        let sender = try apiKey(tenant, LedgerFlow.sender.principal)
        let lines = LedgerFlow.lines.map { PostingLine(itemCode: $0.item, quantity: String($0.units), unitFen: 0) }
        var ids: [Int64] = []
        try await withDatabase { database in
            for start in stride(from: 0, to: count, by: 50) {
                let indices = Array(start..<min(start + 50, count))
                ids += try await database.withSandbox(key: sender, requestID: "bench", logger: logger) { sandbox in
                    var created: [Int64] = []
                    for index in indices {
                        let to = try OrgCode(LedgerFlow.receivers[index % LedgerFlow.receivers.count].org)
                        created.append(try await sandbox.createTransfer(to: to, lines: lines).id)
                    }
                    return created
                }
            }
        }
        return ids
    }

    /// Dispatches one transfer per receiver through the Store, reads what its transaction
    /// awaits, and approves it as each of those orgs (the load does the same through the API):
    /// per receiver, the approving orgs and their principals' keys.
    private func probeApprovers(
        _ tenant: BenchTenant, probes: [Int64], _ masterKey: MasterKey
    ) async throws -> [String: [(org: OrgCode, key: String)]] {
        let sender = try apiKey(tenant, LedgerFlow.sender.principal)
        let clientHeld = Set(file.ledger?.clientHeld ?? [])
        var approvers: [String: [(org: OrgCode, key: String)]] = [:]
        try await Settings.withClient(appURL, logger: logger) { client in
            let database = Database(
                client: client, maximumConnections: 1, metricsFactory: NOOPMetricsHandler.instance, masterKey: masterKey)
            for (index, id) in probes.enumerated() {
                let receiver = LedgerFlow.receivers[index % LedgerFlow.receivers.count].org
                let (hash, awaiting) = try await database.withSandbox(key: sender, requestID: "bench", logger: logger) {
                    sandbox in
                    let record = try await sandbox.dispatchTransfer(id: id)
                    guard let evidence = record.evidence.first(where: { $0.type == .transferDispatched }),
                        let transaction = try await sandbox.ledgerTransaction(hash: evidence.hash)
                    else { throw BenchFailure("transfer \(id) was dispatched without a transfer.dispatched transaction") }
                    return (evidence.hash, Set(transaction.awaiting.values).sorted())
                }
                var approving: [(org: OrgCode, key: String)] = []
                for org in awaiting {
                    guard !clientHeld.contains(org.rawValue) else {
                        throw BenchFailure(
                            "\(org) must approve dispatches to \(receiver) but holds its own key; the benchmark approves with custodial keys"
                        )
                    }
                    guard
                        let principal = file.principals.first(where: {
                            $0.org == org.rawValue && PrincipalRole(rawValue: $0.role)?.may(.endorse) == true
                        })
                    else {
                        throw BenchFailure(
                            "\(options.tenantFile) has no principal of \(org) that may endorse, and \(org) must approve dispatches"
                        )
                    }
                    let key = try apiKey(tenant, principal.name)
                    let record = try await database.withSandbox(key: key, requestID: "bench", logger: logger) {
                        try await $0.approveLedgerTransaction(hash: hash)
                    }
                    approving.append((org, key.text))
                    if org == awaiting.last, record.status != .committed {
                        throw BenchFailure(
                            "the probe's dispatch to \(receiver) is \(record.status.name) after every awaited org approved it")
                    }
                }
                approvers[receiver] = approving
            }
        }
        return approvers
    }

    // MARK: the server

    /// The real router, pool and sealer (as `serve` builds them, with the run's master key and
    /// `--block-transactions` / `--block-age-ms`) on a loopback port, for `body`.
    private func withServer<T: Sendable>(masterKey: MasterKey, _ body: (Int) async throws -> T) async throws -> T {
        let port = Mutex<Int?>(nil)
        let configuration = AppConfiguration(
            host: "127.0.0.1", port: 0, databaseURL: appURL, schemaDirectory: options.database.schemaDir, masterKey: masterKey,
            sealing: SealingRule(maxTransactions: options.blockTransactions, maxAge: .milliseconds(options.blockAgeMs)))
        let app = try buildApplication(configuration, logger: logger) { channel in
            port.withLock { $0 = channel.localAddress?.port }
        }
        let group = ServiceGroup(configuration: .init(services: [app], logger: logger))
        return try await withThrowingTaskGroup(of: Void.self) { tasks in
            tasks.addTask { try await group.run() }
            do {
                let deadline = ContinuousClock.now + .seconds(30)
                while port.withLock({ $0 }) == nil {
                    guard ContinuousClock.now < deadline else { throw BenchFailure("the API server did not start within 30 s") }
                    try await Task.sleep(for: .milliseconds(10))
                }
                let result = try await body(port.withLock { $0 }!)
                await group.triggerGracefulShutdown()
                try await tasks.waitForAll()
                return result
            } catch {
                await group.triggerGracefulShutdown()
                try? await tasks.waitForAll()
                throw error
            }
        }
    }

    // MARK: part 1

    /// `transferIDs` go to the receivers round robin, as they were created.
    private func measureCommits(
        _ tenant: BenchTenant, transferIDs: [Int64], approvers: [String: [(org: OrgCode, key: String)]], port: Int
    ) async throws -> CommitResult {
        let load = CommitLoad(port: port, clients: options.clients, senderKey: try tenant.key(LedgerFlow.sender.principal))
        let work = transferIDs.enumerated().map { index, id in
            CommitLoad.Work(
                transferID: id,
                approverKeys: approvers[LedgerFlow.receivers[index % LedgerFlow.receivers.count].org, default: []].map(\.key))
        }
        _ = try await load.run(Array(work.prefix(options.warmup)))
        let started = ContinuousClock.now
        let latencies = try await load.run(Array(work.dropFirst(options.warmup)))
        let elapsed = ContinuousClock.now - started
        // The sealer seals what is committed within --block-age-ms; wait for it.
        let drainStarted = ContinuousClock.now
        let deadline = drainStarted + .seconds(60) + .milliseconds(options.blockAgeMs * 2)
        let counts = try await BenchConnection.with(ownerURL, logger) { connection in
            var counts = try await sealingCounts(tenant, connection)
            while counts.sealed < counts.committed {
                guard ContinuousClock.now < deadline else {
                    throw BenchFailure(
                        "\(counts.committed - counts.sealed) committed transactions were still unsealed a minute after the load")
                }
                try await Task.sleep(for: .milliseconds(20))
                counts = try await sealingCounts(tenant, connection)
            }
            return counts
        }
        return CommitResult(
            approvers: approvers.mapValues { $0.map(\.org) }, committedPerSecond: Double(options.transactions) / seconds(elapsed),
            latencies: latencies,
            drainSeconds: seconds(ContinuousClock.now - drainStarted), committed: counts.committed, sealed: counts.sealed,
            blocks: counts.blocks)
    }

    /// Committed transactions, sealed ones and blocks of the tenant, read as the owner.
    private func sealingCounts(
        _ tenant: BenchTenant, _ connection: PostgresConnection
    ) async throws -> (committed: Int64, sealed: Int64, blocks: Int64) {
        try await connection.query(
            """
            SELECT (SELECT count(*) FROM ledger_commits WHERE tenant_id = \(tenant.tenantID.rawValue)),
                   (SELECT count(*) FROM ledger_block_entries WHERE tenant_id = \(tenant.tenantID.rawValue)),
                   (SELECT count(*) FROM ledger_blocks WHERE tenant_id = \(tenant.tenantID.rawValue))
            """, logger: logger
        ).collect().first!.decode((Int64, Int64, Int64).self)
    }

    // MARK: part 2

    /// Loads the tenant's ledger as the owner and verifies it `--verify-rounds` times on
    /// `--cores` cores.
    /// Part 2: the tenant's ledger read as its auditor through the application role
    /// (`Database.ledgerEvidence`, the pages the online verification reads) and `LedgerVerifier`
    /// on `--cores` cores over it, as a verification without the database runs; then the online
    /// verification end to end (`Database.verifyLedger`, as `GET /v1/ledger/verify` runs it:
    /// reading, verifying and reconciling the books in one snapshot). Fastest of the rounds each.
    private func measureVerify(_ tenant: BenchTenant) async throws -> VerifyResult {
        let auditor = try apiKey(tenant, "hq-auditor")
        return try await Settings.withClient(appURL, logger: logger) { client in
            let database = Database(client: client, maximumConnections: 1, metricsFactory: NOOPMetricsHandler.instance)
            let options = LedgerVerificationOptions(concurrency: self.options.cores)
            let loadStarted = ContinuousClock.now
            let evidence = try await database.ledgerEvidence(key: auditor, requestID: "bench-read", logger: logger, options: options)
            let loadSeconds = seconds(ContinuousClock.now - loadStarted)
            guard let sample = evidence.transactions.first?.canonicalBytes else {
                throw BenchFailure("tenant \(tenant.code) has no ledger transactions")
            }
            var (best, bestOnline) = (Double.infinity, Double.infinity)
            var report: LedgerVerificationReport?
            for round in 0..<self.options.verifyRounds {
                let started = ContinuousClock.now
                let offline = await evidence.verify(concurrency: self.options.cores)
                best = min(best, seconds(ContinuousClock.now - started))
                let onlineStarted = ContinuousClock.now
                let online = try await database.verifyLedger(
                    key: auditor, requestID: "bench-verify-\(round)", logger: logger, options: options)
                bestOnline = min(bestOnline, seconds(ContinuousClock.now - onlineStarted))
                guard report == nil || report == offline, online.report.isClean == offline.isClean,
                    online.report.counts == offline.counts
                else {
                    throw BenchFailure("two runs of the verifier over the same ledger reported differently")
                }
                report = offline
            }
            return VerifyResult(
                loadSeconds: loadSeconds, bestSeconds: best, onlineSeconds: bestOnline, report: report!, sampleMessage: sample)
        }
    }

    // MARK: part 4

    /// Rounds of the same transfers on both tenants, alternating which goes first.
    private func measurePostings(plain: BenchTenant, ledgered: BenchTenant, port: Int) async throws -> (
        plain: PostingSide, ledgered: PostingSide
    ) {
        var sides = [PostingSide(), PostingSide()]
        let tenants = [plain, ledgered]
        for round in 0..<options.postingRounds {
            for side in round % 2 == 0 ? [0, 1] : [1, 0] {
                let tenant = tenants[side]
                let load = PostingLoad(
                    port: port, clients: options.clients, senderKey: try tenant.key(LedgerFlow.sender.principal),
                    receivers: try LedgerFlow.receivers.map { ($0.org, try tenant.key($0.principal)) },
                    lines: LedgerFlow.lines.map { ($0.item, $0.units) }, label: "round\(round)")
                let started = ContinuousClock.now
                let latencies = try await load.run(count: options.postings)
                sides[side].rates.append(Double(options.postings) / seconds(ContinuousClock.now - started))
                sides[side].latencies.add(latencies)
            }
            print(
                String(
                    format: "part 4 round %ld: without a ledger section %.1f transfers/s, with one %.1f", round + 1,
                    sides[0].rates[round], sides[1].rates[round]))
        }
        for side in 0..<2 {
            (sides[side].ledgerTransactions, sides[side].endorsements) = try await BenchConnection.with(ownerURL, logger) {
                connection in
                try await connection.query(
                    """
                    SELECT count(DISTINCT t.tx_hash), count(e.tx_hash)
                    FROM ledger_transactions t LEFT JOIN ledger_endorsements e USING (tenant_id, tx_hash)
                    WHERE t.tenant_id = \(tenants[side].tenantID.rawValue) AND t.transfer_id IS NOT NULL
                    """, logger: logger
                ).collect().first!.decode((Int64, Int64).self)
            }
        }
        return (sides[0], sides[1])
    }

    // MARK: figures

    private func report(
        commit: CommitResult, verify: VerifyResult, ceiling: SM2Ceiling, postings: (plain: PostingSide, ledgered: PostingSide),
        loadAtStart: String, started: ContinuousClock.Instant
    ) {
        #if DEBUG
            let build = "debug"
        #else
            let build = "release"
        #endif
        print(
            "\n\(build) build, \(ProcessInfo.processInfo.activeProcessorCount) cores, load average \(loadAtStart) at the start, "
                + "\(Self.loadAverage()) at the end, \(String(format: "%.0f", seconds(ContinuousClock.now - started))) s in all")

        let blocksPerTransaction = Double(commit.blocks) / Double(max(commit.sealed, 1))
        let latency = commit.latencies
        let approving = LedgerFlow.receivers.map { receiver in
            "to \(receiver.org) by "
                + (commit.approvers[receiver.org].map { $0.isEmpty ? "nobody" : $0.map(\.rawValue).joined(separator: " + ") }
                    ?? "?")
        }.joined(separator: ", ")
        let endorsementsPerDispatch =
            1 + Double(commit.approvers.values.map(\.count).reduce(0, +)) / Double(max(commit.approvers.count, 1))
        print(
            "\n1. commit rate through the API: \(options.transactions) transactions (after \(options.warmup) unmeasured) by \(options.clients) "
                + "clients, each a dispatch endorsed by \(LedgerFlow.sender.org) and approved (\(approving)), custodial keys only; "
                + "the sealer running (blocks of ≤ \(options.blockTransactions), or after \(options.blockAgeMs) ms)")
        print(
            String(
                format:
                    "  committed        %9.1f transactions/s   dispatch → committed p50 %.1f ms  p90 %.1f ms  p99 %.1f ms  max %.1f ms",
                commit.committedPerSecond, latency.committed.milliseconds(at: 50), latency.committed.milliseconds(at: 90),
                latency.committed.milliseconds(at: 99), latency.committed.milliseconds(at: 100)))
        print(
            String(
                format: "  requests         dispatch p50 %.1f ms  p99 %.1f ms;  approve p50 %.1f ms  p99 %.1f ms",
                latency.dispatch.milliseconds(at: 50), latency.dispatch.milliseconds(at: 99),
                latency.approve.milliseconds(at: 50),
                latency.approve.milliseconds(at: 99)))
        print(
            String(
                format: "  sealed           %lld blocks, %lld of %lld committed transactions (all sealed %.2f s after the load)",
                commit.blocks, commit.sealed, commit.committed, commit.drainSeconds))

        let counts = verify.report.counts
        let verifyPerSecond = Double(counts.transactions) / verify.bestSeconds
        print(
            "\n2. verify rate: LedgerVerifier on \(options.cores) cores over part 1's ledger (read as hq-auditor through the "
                + "application role in " + String(format: "%.2f s", verify.loadSeconds) + "), fastest of \(options.verifyRounds)")
        print(
            String(
                format:
                    "  verified         %9.1f transactions/s   %.1f endorsements/s   (%ld transactions, %ld endorsements, %ld blocks, %ld sealed, in %.3f s)",
                verifyPerSecond, Double(counts.endorsementsChecked) / verify.bestSeconds, counts.transactions,
                counts.endorsementsChecked,
                counts.blocks, counts.sealedTransactions, verify.bestSeconds))
        var kinds: [String: Int] = [:]
        for failure in verify.report.failures { kinds[failure.kind.rawValue, default: 0] += 1 }
        print(
            "  findings         "
                + (kinds.isEmpty
                    ? "none" : kinds.sorted { $0.key < $1.key }.map { "\($0.key) ×\($0.value)" }.joined(separator: ", ")))

        print(
            "\n3. the SM2 ceiling on \(options.cores) cores (SMCrypto, a task per core, \(options.cryptoSeconds) s each, over a "
                + "\(verify.sampleMessage.count)-byte transaction)")
        print(
            String(
                format:
                    "  sign %.0f/s   verify %.0f/s   custodial sign with its key opened each time (PKCS#8 read, public point derived; "
                    + "the server opens each key once) %.0f/s",
                ceiling.signsPerSecond, ceiling.verifiesPerSecond, ceiling.custodialSignsPerSecond))
        let signsPerTransaction = endorsementsPerDispatch + blocksPerTransaction
        let commitCeiling = ceiling.signsPerSecond / signsPerTransaction
        let commitRatio = commit.committedPerSecond / commitCeiling
        print(
            String(
                format:
                    "  commit: %.3f signs per transaction (%.0f endorsements + %.3f orderer signatures, a block's share; the Store verifies none)",
                signsPerTransaction, endorsementsPerDispatch, blocksPerTransaction))
        print(
            String(
                format: "    ceiling %.1f transactions/s; achieved %.1f = %.1f %% of it (target ≥ 60 %%: %@)", commitCeiling,
                commit.committedPerSecond, commitRatio * 100, commitRatio >= 0.6 ? "met" : "NOT met"))
        let endorsementsPerTransaction = Double(counts.endorsementsChecked) / Double(max(counts.transactions, 1))
        let headersPerTransaction = Double(counts.blocks) / Double(max(counts.transactions, 1))
        let verifiesPerTransaction = endorsementsPerTransaction + headersPerTransaction
        let verifyCeiling = ceiling.verifiesPerSecond / verifiesPerTransaction
        let verifyRatio = verifyPerSecond / verifyCeiling
        print(
            String(
                format: "  verify: %.3f verifies per transaction (%.3f endorsements + %.3f block header signatures)",
                verifiesPerTransaction, endorsementsPerTransaction, headersPerTransaction))
        print(
            String(
                format: "    ceiling %.1f transactions/s; achieved %.1f = %.1f %% of it (target ≥ 80 %%: %@)", verifyCeiling,
                verifyPerSecond,
                verifyRatio * 100, verifyRatio >= 0.8 ? "met" : "NOT met"))
        let onlinePerSecond = Double(counts.transactions) / verify.onlineSeconds
        print(
            String(
                format: "    online (GET /v1/ledger/verify's path: reading, verifying, the books) %.1f transactions/s = %.1f %% of the ceiling",
                onlinePerSecond, onlinePerSecond / verifyCeiling * 100))

        func median(_ values: [Double]) -> Double {
            let sorted = values.sorted()
            return sorted.count % 2 == 1
                ? sorted[sorted.count / 2] : (sorted[sorted.count / 2 - 1] + sorted[sorted.count / 2]) / 2
        }
        let transfers = Double(options.postings * options.postingRounds)
        print(
            "\n4. what the ledger costs a transfer posting: \(options.postings) transfers per tenant and round, each created, dispatched and "
                + "received through the API by \(options.clients) clients; median of \(options.postingRounds) rounds, latencies over all"
        )
        for (label, side) in [("without a ledger section", postings.plain), ("with a ledger section", postings.ledgered)] {
            print(
                "  " + label.padding(toLength: 25, withPad: " ", startingAt: 0)
                    + String(
                        format:
                            "%9.1f transfers/s   per transfer p50 %.1f ms  p99 %.1f ms   (%.2f ledger transactions and %.2f signatures per transfer)",
                        median(side.rates), side.latencies.milliseconds(at: 50), side.latencies.milliseconds(at: 99),
                        Double(side.ledgerTransactions) / transfers, Double(side.endorsements) / transfers))
        }
        print(String(format: "  ratio with / without: %.2f", median(postings.ledgered.rates) / median(postings.plain.rates)))
        print(
            "  (a tenant without a ledger section still writes each step's ledger transaction, under the default policies; it has no keys, "
                + "so nothing is signed and nothing commits)")
    }

    /// `/proc/loadavg`'s 1, 5 and 15 minute figures, or n/a.
    private static func loadAverage() -> String {
        guard let text = try? String(contentsOfFile: "/proc/loadavg", encoding: .utf8) else { return "n/a" }
        return text.split(separator: " ").prefix(3).joined(separator: " ")
    }

    // MARK: plumbing

    private func apiKey(_ tenant: BenchTenant, _ principal: String) throws -> APIKey {
        guard let key = APIKey(try tenant.key(principal)) else { throw BenchFailure("the key of \(principal) is no API key") }
        return key
    }

    /// A one-connection store as the application role.
    private func withDatabase<T: Sendable>(_ body: (Database) async throws -> T) async throws -> T {
        try await Settings.withClient(appURL, logger: logger) { client in
            try await body(Database(client: client, maximumConnections: 1, metricsFactory: NOOPMetricsHandler.instance))
        }
    }
}
