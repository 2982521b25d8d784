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

/// `orgmatrix-bench postings`: transfers dispatched and received per second through the HTTP API
/// against the same database work done by pgbench, on the same scratch database in the same run.
///
/// The scratch database gets the dairy tenant and its demo data, then, per round, a block of
/// transfers from the central warehouse to four forward warehouses, created in pairs: the API
/// takes one of each pair, pgbench the other, so both sides work on the same rows. Rounds
/// alternate which side goes first. PostgreSQL's own per-table counts, read before and after
/// each side, show that both wrote the same rows.
struct BenchPostings: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "postings", abstract: "Transfer dispatch + receipt per second: HTTP API vs pgbench on the same database.")

    @Option(help: "Transfers each side dispatches and receives per round (a multiple of --clients).") var transfers: Int = 1024
    @Option(help: "Rounds; they alternate which side goes first, and the median is reported.") var rounds: Int = 3
    @Option(help: "Concurrent clients on each side.") var clients: Int = 16
    @Option(help: "Transfers the API runs first in each round to open its connections (in the work check, not the figures).")
    var warmup: Int = 32
    @Option(help: "The tenant file with the demo tenant.") var tenantFile: String = "Tenants/dairy.yaml"
    @Option(help: "The demo tenant's business data, loaded as `orgmatrix seed load` loads it.") var seedFile: String = "Seeds/dairy-demo.yaml"
    @Option(help: "The pgbench executable (default: pgbench on PATH, else the newest /usr/lib/postgresql/*/bin/pgbench).")
    var pgbench: String?
    @Flag(help: "Keep the scratch database afterwards.") var keepDatabase = false
    @Option(help: "The in-process server's log level (it logs JSON lines as `orgmatrix serve` does, into a scratch file).")
    var logLevel: String = "info"
    @OptionGroup var database: BenchDatabaseOptions

    func validate() throws {
        guard (1...256).contains(clients) else { throw ValidationError("--clients must be 1–256") }
        guard (1...1_000_000).contains(transfers), transfers % clients == 0 else {
            throw ValidationError("--transfers must be 1–1000000 and a multiple of --clients (\(clients))")
        }
        guard (0...10_000).contains(warmup) else { throw ValidationError("--warmup must be 0–10000") }
        guard (1...15).contains(rounds) else { throw ValidationError("--rounds must be 1–15") }
    }

    func run() async throws {
        // The server logs as `serve` does (JSON lines, at --log-level, by default a line per request),
        // into a scratch file.
        let serverLog = FileManager.default.temporaryDirectory.appendingPathComponent("orgmatrix-bench-\(UUID().uuidString).log")
        guard FileManager.default.createFile(atPath: serverLog.path, contents: nil), let logFile = try? FileHandle(forWritingTo: serverLog) else {
            throw BenchFailure("cannot write \(serverLog.path)")
        }
        defer { try? FileManager.default.removeItem(at: serverLog) }
        try Settings.bootstrapLogging(format: .json, level: logLevel, output: logFile)
        let logger = Logger(label: "orgmatrix.bench")
        let pgbenchPath = try PgbenchRun.locate(pgbench)
        let text: String
        do {
            text = try String(contentsOfFile: tenantFile, encoding: .utf8)
        } catch {
            throw BenchFailure("cannot read \(tenantFile): \(error.localizedDescription)")
        }
        let definition = try TenantDefinition.validate(try TenantFile.decode(yaml: text))
        let ownerURL = try Settings.databaseURL(flag: nil, environmentKey: "OWNER_DATABASE_URL", dataDir: database.dataDir)
        let appURL = try Settings.databaseURL(flag: database.databaseURL, environmentKey: "DATABASE_URL", dataDir: database.dataDir)
        let sameWork = try await withScratchDatabase(ownerURL: ownerURL, keep: keepDatabase, logger: logger) { name in
            try await PostingsRun(
                options: self, definition: definition, pgbenchPath: pgbenchPath, monitorURL: ownerURL,
                ownerURL: ownerURL.replacingDatabase(name.rawValue), appURL: appURL.replacingDatabase(name.rawValue), logger: logger
            ).run()
        }
        guard sameWork else {
            FileHandle.standardError.write(Data("orgmatrix-bench: the two sides did not do the same database work (see above)\n".utf8))
            throw ExitCode(1)
        }
    }
}

/// The dairy demo's flow the benchmark drives: the central warehouse ships four lines to four
/// forward warehouses, each with its own operator.
private enum Flow {
    static let sender = "central-operator"
    static let receivers = [("SJZ-FW", "sjz-operator"), ("TY-FW", "ty-operator"), ("SH-FW", "sh-operator"), ("GZ-FW", "gz-operator")]
    /// Item, whole units per transfer, purchase cost in fen per unit for the top-up.
    static let lines: [(item: String, units: Int64, unitFen: Int64)] = [
        ("MILK-FRESH", 40, 380), ("YOGURT", 6, 960), ("MILK-POWDER", 15, 2800), ("CHEESE", 2, 6200),
    ]
    /// Fresh milk lost on each trip (within the tolerance of 40 L), and the actual freight's
    /// difference from the estimate.
    static let lostMilk = "0.035"
    static let freightVariancePartsPerMillion: Int64 = 3000
}

/// A transfer the API side dispatches and receives.
private struct PlannedTransfer: Sendable {
    let id: Int64
    let receiver: Int
    let receiptJSON: String
}

/// One round's transfers: the API's warm-ups, then pairs; the API takes the first transfer of
/// each pair (`measured`), pgbench the second.
private struct RoundPlan {
    let warmups: [PlannedTransfer]
    let measured: [PlannedTransfer]
    let firstPair: Int64
}

/// What one side did in one round: throughput, latencies, and the table work of `transfers`
/// transfers (the API's include its warm-ups).
private struct SideResult {
    let transfersPerSecond: Double
    let latencies: SideLatencies
    let work: TableWork
    let transfers: Int
}

/// Latencies per transfer and, on the API side, per request.
private struct SideLatencies: Sendable {
    var transfer = Latencies.microseconds
    var dispatch = Latencies.microseconds
    var receive = Latencies.microseconds

    mutating func add(_ other: SideLatencies) {
        transfer.add(other.transfer)
        dispatch.add(other.dispatch)
        receive.add(other.receive)
    }
}

private struct PostingsRun {
    let options: BenchPostings
    let definition: TenantDefinition
    let pgbenchPath: String
    /// A connection outside the scratch database, so watching it adds nothing to its statistics.
    let monitorURL: DatabaseURL
    let ownerURL: DatabaseURL
    let appURL: DatabaseURL
    let logger: Logger

    private var scratchName: String { appURL.database }

    /// Prints the figures; false when the two sides' database work differs.
    func run() async throws -> Bool {
        let started = ContinuousClock.now
        let keys = try await prepareTenant()
        let plans = try await createTransfers(keys: keys)
        print(String(format: "prepared in %.1f s: ", seconds(ContinuousClock.now - started)) + "\(definition.orgs.count) orgs with the demo data, "
            + "\(plans.count) rounds of \(options.warmup) + 2 × \(options.transfers) transfers (\(Flow.lines.count) lines each)\n")
        var api: [SideResult] = []
        var pgbench: [SideResult] = []
        var script: PostingsScript?
        for (round, plan) in plans.enumerated() {
            let apiFirst = round % 2 == 0
            for runsAPI in apiFirst ? [true, false] : [false, true] {
                if runsAPI {
                    api.append(try await runAPI(keys: keys, plan: plan))
                } else {
                    if script == nil { script = try await scriptStandIn(keys: keys, plan: plans[0]) }
                    pgbench.append(try await runPgbench(keys: keys, script: script!, plan: plan))
                }
            }
            print(String(format: "round %d (%@ first): API %.1f/s, pgbench %.1f/s, ratio %.2f", round + 1, apiFirst ? "API" : "pgbench",
                api[round].transfersPerSecond, pgbench[round].transfersPerSecond, api[round].transfersPerSecond / pgbench[round].transfersPerSecond))
        }
        try await checkAllReceived(keys: keys, ids: plans.flatMap { $0.measured.flatMap { [$0.id, $0.id + 1] } + $0.warmups.map(\.id) })
        return report(api: api, pgbench: pgbench)
    }

    // MARK: preparation

    /// Applies the tenant file (new principals' keys come back) and posts its demo data.
    private func prepareTenant() async throws -> [String: String] {
        let migrator = try Migrator.load(directory: options.database.schemaDir)
        // The scratch tenant's custodial keys are sealed under a master key made for this run and
        // then forgotten, its database thrown away; the seed load uses it too (it seals the demo
        // carrier's private values and signs the seed's own postings), the measured work does not.
        let masterKey = try MasterKey(rawRepresentation: SMCrypto.randomBytes(SM4.keyByteCount), source: "a key of this benchmark run")
        let outcome = try await Settings.withClient(ownerURL, logger: logger) { client in
            _ = try await migrator.migrate(client: client, logger: logger)
            return try await TenantAdmin(client: client, logger: logger, masterKey: masterKey).apply(definition, dryRun: false)
        }
        let seed: SeedFile
        let keys: [String: APIKey]
        do {
            seed = try SeedFile.parse(yaml: try String(contentsOfFile: options.seedFile, encoding: .utf8), file: options.seedFile)
            keys = try seed.keys(from: outcome.keys, keysFile: "the new tenant's keys")
        } catch {
            throw BenchFailure("cannot load \(options.seedFile): \(error)")
        }
        _ = try await withDatabase(masterKey: masterKey) { database in
            try await database.loadSeed(seed, keys: keys, logger: logger)
        }
        return outcome.keys
    }

    /// Tops up the central warehouse and creates each round's transfers: its warm-ups, then its
    /// pairs (API: even offset, pgbench: odd), in one run of consecutive ids per round.
    private func createTransfers(keys: [String: String]) async throws -> [RoundPlan] {
        let perRound = options.warmup + 2 * options.transfers
        let total = perRound * options.rounds
        let sender = try key(Flow.sender, keys)
        let postingLines = Flow.lines.map { PostingLine(itemCode: $0.item, quantity: String($0.units), unitFen: 0) }
        try await withDatabase { database in
            _ = try await database.withSandbox(key: sender, requestID: "bench", logger: logger) { sandbox in
                try await sandbox.postPurchaseReceipt(
                    supplier: "bench top-up",
                    lines: Flow.lines.map { PostingLine(itemCode: $0.item, quantity: String($0.units * Int64(total + 1)), unitFen: $0.unitFen) })
            }
        }
        var created: [PlannedTransfer] = []
        created.reserveCapacity(total)
        let warmup = options.warmup
        let receiver: @Sendable (Int) -> Int = { index in
            let offset = index % perRound
            return (offset < warmup ? offset : (offset - warmup) / 2) % Flow.receivers.count
        }
        try await withDatabase { database in
            let batch = 50
            for start in stride(from: 0, to: total, by: batch) {
                let indices = Array(start..<min(start + batch, total))
                let records = try await database.withSandbox(key: sender, requestID: "bench", logger: logger) { sandbox in
                    var records: [TransferRecord] = []
                    for index in indices {
                        records.append(try await sandbox.createTransfer(to: try OrgCode(Flow.receivers[receiver(index)].0), lines: postingLines))
                    }
                    return records
                }
                for (index, record) in zip(indices, records) {
                    let freight = record.lines.reduce(Int64(0)) { $0 + $1.freightFen }
                    let actual = try Rounding.halfEven(
                        Int128(freight) * Int128(1_000_000 + Flow.freightVariancePartsPerMillion), dividedBy: 1_000_000)
                    created.append(PlannedTransfer(
                        id: record.id, receiver: receiver(index),
                        receiptJSON: #"{"freightFen": \#(actual), "insuranceFen": 0, "lost": {"MILK-FRESH": "\#(Flow.lostMilk)"}}"#))
                }
            }
        }
        // pgbench finds its transfers by arithmetic on the ids, so they must be consecutive.
        for (offset, transfer) in created.enumerated() where transfer.id != created[0].id + Int64(offset) {
            throw BenchFailure("transfer ids are not consecutive (another writer in the scratch database?)")
        }
        return stride(from: 0, to: total, by: perRound).map { start in
            let pairs = created[(start + warmup)..<(start + perRound)]
            return RoundPlan(
                warmups: Array(created[start..<(start + warmup)]),
                measured: pairs.enumerated().filter { $0.offset % 2 == 0 }.map(\.element), firstPair: pairs.first!.id)
        }
    }

    // MARK: the API side

    /// The real router and pool (as `serve` builds them) on a loopback port, from a vacuumed
    /// database; clients take the next transfer, dispatch it with the sender's key and receive it
    /// with the receiver's, each with an Idempotency-Key as an integrating system sends.
    private func runAPI(keys: [String: String], plan: RoundPlan) async throws -> SideResult {
        let sender = try key(Flow.sender, keys).text
        let receivers = try Flow.receivers.map { try key($0.1, keys).text }
        return try await measuringWork(transfers: plan.warmups.count + plan.measured.count) {
            let port = Mutex<Int?>(nil)
            let configuration = AppConfiguration(host: "127.0.0.1", port: 0, databaseURL: appURL, schemaDirectory: options.database.schemaDir)
            let app = try buildApplication(configuration, logger: logger) { channel in port.withLock { $0 = channel.localAddress?.port } }
            let group = ServiceGroup(configuration: .init(services: [app], logger: logger))
            return try await withThrowingTaskGroup(of: Void.self) { tasks in
                tasks.addTask { try await group.run() }
                let deadline = ContinuousClock.now + .seconds(30)
                while port.withLock({ $0 }) == nil {
                    guard ContinuousClock.now < deadline else { throw BenchFailure("the API server did not start within 30 s") }
                    try await Task.sleep(for: .milliseconds(10))
                }
                let load = Load(port: port.withLock { $0 }!, clients: options.clients, sender: sender, receivers: receivers)
                _ = try await load.run(plan.warmups)
                let started = ContinuousClock.now
                let latencies = try await load.run(plan.measured)
                let elapsed = ContinuousClock.now - started
                await group.triggerGracefulShutdown()
                try await tasks.waitForAll()
                return (Double(plan.measured.count) / seconds(elapsed), latencies)
            }
        }
    }

    /// Runs `body` between two statistics snapshots of a freshly vacuumed database.
    private func measuringWork(
        transfers: Int, _ body: () async throws -> (Double, SideLatencies)
    ) async throws -> SideResult {
        try await vacuum()
        let before = try await quietSnapshot()
        let (rate, latencies) = try await body()
        let after = try await quietSnapshot()
        return SideResult(transfersPerSecond: rate, latencies: latencies, work: after - before, transfers: transfers)
    }

    // MARK: the pgbench side

    /// What pgbench stands in for, computed with Core: the dispatch of the transfers' lines from
    /// balances at the moving average they were priced at (each line's base cost for its
    /// quantity), and per receiver Core's receipt of what a measured transfer to it reported (as
    /// the API booked it: checked); and the responses the API kept under one transfer's
    /// Idempotency-Keys.
    private func scriptStandIn(keys: [String: String], plan: RoundPlan) async throws -> PostingsScript {
        var records: [TransferRecord] = []
        var receipts: [TransferEvent.Received] = []
        for receiver in Flow.receivers.indices {
            guard let sample = plan.measured.first(where: { $0.receiver == receiver }) else {
                throw BenchFailure("no measured transfer went to \(Flow.receivers[receiver].0); use more --transfers")
            }
            let key = try key(Flow.receivers[receiver].1, keys)
            let (record, book) = try await withDatabase { database in
                try await database.withSandbox(key: key, requestID: "bench", logger: logger) { sandbox in
                    (try await sandbox.transfer(id: sample.id), try await sandbox.pricingRules())
                }
            }
            guard let record, let booked = record.state.receipt, let rules = book.versions.first(where: { $0.version == record.rulesVersion }) else {
                throw BenchFailure("transfer \(sample.id) was not received through the API")
            }
            let receipt = try TransferRules.receive(
                transferID: record.id, order: record.state.order,
                report: ArrivalReport(freightFen: booked.actualFreightFen, insuranceFen: booked.actualInsuranceFen, lostScaled: booked.lines.map(\.lostScaled)),
                rules: rules)
            guard TransferState.Receipt(receipt) == booked, receipt.errorPartsPerMillion != nil else {
                throw BenchFailure("transfer \(sample.id) is not booked as Core receives it")
            }
            records.append(record)
            receipts.append(receipt)
        }
        let sample = records[0].id
        var stored: [String: (hash: String, body: String)] = [:]
        try await BenchConnection.with(ownerURL, logger) { connection in
            let rows = try await connection.query(
                """
                SELECT idempotency_key, request_hash, response_body FROM idempotency_keys
                WHERE idempotency_key = ANY(\(["bench-\(sample)-dispatch", "bench-\(sample)-receive"]))
                """, logger: logger)
            for try await (key, hash, body) in rows.decode((String, String, String).self) { stored[key] = (hash, body) }
        }
        guard let dispatched = stored["bench-\(sample)-dispatch"], let received = stored["bench-\(sample)-receive"] else {
            throw BenchFailure("transfer \(sample)'s responses were not kept under its Idempotency-Keys")
        }
        let order = records[0].state.order
        let dispatch = try TransferRules.dispatch(
            transferID: sample, order: order,
            balances: order.lines.map { StockOnHand(onHandScaled: $0.goods.scaledQuantity, valueFen: $0.price.baseCost.fen) })
        return PostingsScript(
            itemIDs: records[0].items.map(\.id), dispatch: dispatch, receipts: receipts, senderFirst: try Self.senderSortsFirst(records[0].fromCode),
            dispatchResponse: dispatched, receiptResponse: received)
    }

    /// The Store's receipt order depends on whether the sender's code sorts before the
    /// receiver's; the script has one order, so all receivers must agree.
    private static func senderSortsFirst(_ sender: String) throws -> Bool {
        let orders = Set(Flow.receivers.map { sender < $0.0 })
        guard orders.count == 1 else { throw BenchFailure("the receivers' codes sort on both sides of \(sender)") }
        return orders.first!
    }

    private func runPgbench(keys: [String: String], script: PostingsScript, plan: RoundPlan) async throws -> SideResult {
        let variables = try pgbenchVariables(keys: keys, script: script, firstPair: plan.firstPair)
        return try await measuringWork(transfers: options.transfers) {
            let result = try await PgbenchRun(executable: pgbenchPath, url: appURL, clients: options.clients, transfers: options.transfers)
                .run(script: script, variables: variables)
            return (result.transfersPerSecond, SideLatencies(transfer: result.latencies))
        }
    }

    private func pgbenchVariables(keys: [String: String], script: PostingsScript, firstPair: Int64) throws -> [String: String] {
        var variables = script.variables
        variables["n"] = "-1"
        variables["clients"] = String(options.clients)
        variables["first"] = String(firstPair)
        variables["tenant"] = definition.code.rawValue
        variables["sender"] = "\\x" + Hex.encode(try key(Flow.sender, keys).hash)
        for (index, receiver) in Flow.receivers.enumerated() {
            variables["receiver\(index)"] = "\\x" + Hex.encode(try key(receiver.1, keys).hash)
        }
        return variables
    }

    // MARK: checks and figures

    /// Every transfer of the measured block arrived, and nothing is left in transit at the sender.
    private func checkAllReceived(keys: [String: String], ids: [Int64]) async throws {
        let hq = try key("hq-auditor", keys)
        let (received, inTransit) = try await BenchConnection.with(appURL, logger) { connection in
            try await connection.query("BEGIN", logger: logger)
            _ = try await connection.query("SELECT 1 FROM app_begin(\(hq.tenant.rawValue), \(ByteBuffer(bytes: hq.hash)))", logger: logger)
                .collect()
            let row = try await connection.query(
                """
                SELECT (SELECT count(*) FROM transfers WHERE transfer_id = ANY(\(ids)) AND status = 'received'),
                       (SELECT coalesce(sum(b.in_transit_scaled), 0)::bigint FROM stock_balances b JOIN orgs o USING (tenant_id, org_id)
                        WHERE o.code = 'BJ-CW')
                """, logger: logger
            ).collect().first!.decode((Int64, Int64).self)
            try await connection.query("COMMIT", logger: logger)
            return row
        }
        guard received == ids.count, inTransit == 0 else {
            throw BenchFailure("after the run \(received) of \(ids.count) transfers are received and \(inTransit) units are in transit")
        }
    }

    /// Prints the figures over all rounds; false when the two sides wrote different rows.
    private func report(api: [SideResult], pgbench: [SideResult]) -> Bool {
        func median(_ values: [Double]) -> Double { values.sorted()[values.count / 2] }
        let ratio = median(zip(api, pgbench).map { $0.transfersPerSecond / $1.transfersPerSecond })
        func merged(_ sides: [SideResult]) -> SideLatencies { sides.reduce(into: SideLatencies()) { $0.add($1.latencies) } }
        let (apiLatencies, pgbenchLatencies) = (merged(api), merged(pgbench))
        print("\neach side per round: \(options.transfers) transfers dispatched + received by \(options.clients) concurrent clients; "
            + "median of \(api.count) rounds, latencies over all")
        print(String(format: "  HTTP API   %8.1f transfers/s   per transfer p50 %6.1f ms  p99 %6.1f ms   (p99 dispatch %.1f ms, receive %.1f ms)",
            median(api.map(\.transfersPerSecond)), apiLatencies.transfer.milliseconds(at: 50), apiLatencies.transfer.milliseconds(at: 99),
            apiLatencies.dispatch.milliseconds(at: 99), apiLatencies.receive.milliseconds(at: 99)))
        print(String(format: "  pgbench    %8.1f transfers/s   per transfer p50 %6.1f ms  p99 %6.1f ms   (-M extended, %d threads)",
            median(pgbench.map(\.transfersPerSecond)), pgbenchLatencies.transfer.milliseconds(at: 50),
            pgbenchLatencies.transfer.milliseconds(at: 99), PgbenchRun.threads(clients: options.clients)))
        print(String(format: "\nratio API / pgbench: %.2f (median of the rounds' ratios; target ≥ 0.50: %@)", ratio, ratio >= 0.5 ? "met" : "NOT met"))

        func perTransfer(_ sides: [SideResult]) -> TableWork {
            sides.map(\.work).reduce(TableWork(tables: [:]), +).perTransfer(sides.map(\.transfers).reduce(0, +))
        }
        let (apiWork, pgbenchWork) = (perTransfer(api), perTransfer(pgbench))
        print("\ndatabase work per transfer (pg_stat_user_tables)     API   pgbench")
        let (a, b) = (apiWork.total, pgbenchWork.total)
        for (label, x, y) in [
            ("table scans (sequential + index)", a.scans, b.scans), ("rows inserted", a.inserted, b.inserted), ("rows updated", a.updated, b.updated),
        ] {
            print("  " + label.padding(toLength: 45, withPad: " ", startingAt: 0) + String(format: " %8.2f %8.2f", x, y))
        }
        print("  per table: scans, rows inserted, rows updated (API | pgbench)")
        for name in Set(apiWork.tables.keys).union(pgbenchWork.tables.keys).sorted() {
            let (x, y) = (apiWork.tables[name] ?? .init(), pgbenchWork.tables[name] ?? .init())
            guard x.scans + x.inserted + x.updated + y.scans + y.inserted + y.updated > 0 else { continue }
            print("    " + name.padding(toLength: 22, withPad: " ", startingAt: 0)
                + String(format: "%7.2f %5.2f %5.2f | %7.2f %5.2f %5.2f", x.scans, x.inserted, x.updated, y.scans, y.inserted, y.updated))
        }
        let differing = apiWork.differences(from: pgbenchWork)
        if differing.isEmpty {
            print("the same rows written on both sides, table by table")
        } else {
            print("the two sides wrote DIFFERENT rows in: " + differing.joined(separator: ", "))
        }
        return differing.isEmpty
    }

    /// Each side starts from a vacuumed and analyzed database, so neither inherits the other's
    /// dead rows in the small, hot balance table, or plans made before it grew.
    private func vacuum() async throws {
        try await BenchConnection.with(ownerURL, logger) { try await $0.query("VACUUM (ANALYZE)", logger: logger) }
    }

    /// Table statistics once no client is connected to the scratch database: a backend reports its
    /// counts when it ends, so every finished transfer is in them.
    private func quietSnapshot() async throws -> TableWork {
        try await BenchConnection.with(monitorURL, logger) { monitor in
            let deadline = ContinuousClock.now + .seconds(30)
            while try await monitor.query(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = \(scratchName) AND backend_type = 'client backend'", logger: logger
            ).collect().first!.decode(Int64.self) > 0 {
                guard ContinuousClock.now < deadline else { throw BenchFailure("clients of \(scratchName) did not disconnect within 30 s") }
                try await Task.sleep(for: .milliseconds(50))
            }
        }
        // A backend leaves pg_stat_activity a moment before its last counts land, so read until
        // two readings a quarter second apart agree.
        return try await BenchConnection.with(ownerURL, logger) { connection in
            func read() async throws -> TableWork {
                var work = TableWork(tables: [:])
                let rows = try await connection.query(
                    """
                    SELECT relname::text, coalesce(seq_scan, 0), coalesce(idx_scan, 0), n_tup_ins, n_tup_upd FROM pg_stat_user_tables
                    """, logger: logger)
                for try await (name, sequential, index, inserted, updated) in rows.decode((String, Int64, Int64, Int64, Int64).self) {
                    work.tables[name] = .init(
                        sequentialScans: Double(sequential), indexScans: Double(index), inserted: Double(inserted), updated: Double(updated))
                }
                return work
            }
            var previous = try await read()
            let deadline = ContinuousClock.now + .seconds(30)
            while true {
                try await Task.sleep(for: .milliseconds(250))
                let current = try await read()
                if current.tables == previous.tables { return current }
                guard ContinuousClock.now < deadline else { throw BenchFailure("the statistics of \(scratchName) did not settle within 30 s") }
                previous = current
            }
        }
    }

    // MARK: plumbing

    private func key(_ principal: String, _ keys: [String: String]) throws -> APIKey {
        guard let text = keys[principal], let key = APIKey(text) else {
            throw BenchFailure("\(options.tenantFile) has no principal \(principal), which the benchmark posts as")
        }
        return key
    }

    /// A one-connection store as the application role; its connection closes when `body` ends,
    /// so what it did is in the next statistics snapshot.
    private func withDatabase<T: Sendable>(masterKey: MasterKey? = nil, _ body: (Database) async throws -> T) async throws -> T {
        try await Settings.withClient(appURL, logger: logger) { client in
            try await body(Database(client: client, maximumConnections: 1, metricsFactory: NOOPMetricsHandler.instance, masterKey: masterKey))
        }
    }
}

/// The API side's clients: each takes the next transfer and posts its dispatch and its receipt.
private struct Load {
    let port: Int
    let clients: Int
    let sender: String
    let receivers: [String]

    /// Client `c` takes transfers `c`, `c + clients`, … — the split pgbench makes of its own.
    func run(_ transfers: [PlannedTransfer]) async throws -> SideLatencies {
        try await withThrowingTaskGroup(of: SideLatencies.self) { group in
            for client in 0..<clients {
                group.addTask {
                    try await HTTPLoadConnection.with(port: port) { connection in
                        var latencies = SideLatencies()
                        for transfer in stride(from: client, to: transfers.count, by: clients).map({ transfers[$0] }) {
                            let dispatch = try await ContinuousClock().measure {
                                try await expectOK(
                                    connection.post(
                                        "/v1/transfers/\(transfer.id)/dispatch", bearer: sender, idempotencyKey: "bench-\(transfer.id)-dispatch", json: "{}"),
                                    transfer.id)
                            }
                            let receive = try await ContinuousClock().measure {
                                try await expectOK(
                                    connection.post(
                                        "/v1/transfers/\(transfer.id)/receive", bearer: receivers[transfer.receiver],
                                        idempotencyKey: "bench-\(transfer.id)-receive", json: transfer.receiptJSON),
                                    transfer.id)
                            }
                            latencies.transfer.record(dispatch + receive)
                            latencies.dispatch.record(dispatch)
                            latencies.receive.record(receive)
                        }
                        return latencies
                    }
                }
            }
            var all = SideLatencies()
            for try await latencies in group { all.add(latencies) }
            return all
        }
    }

    private func expectOK(_ response: HTTPLoadConnection.Response, _ id: Int64) throws {
        guard response.status == 200 else {
            throw BenchFailure("transfer \(id): HTTP \(response.status): \(String(buffer: response.body))")
        }
    }
}

/// The access counts PostgreSQL keeps per table of the scratch database.
private struct TableWork {
    struct Counts: Equatable {
        var sequentialScans: Double = 0
        var indexScans: Double = 0
        var inserted: Double = 0
        var updated: Double = 0

        var scans: Double { sequentialScans + indexScans }

        /// `operation` applied field by field.
        func combined(with other: Counts, _ operation: (Double, Double) -> Double) -> Counts {
            Counts(
                sequentialScans: operation(sequentialScans, other.sequentialScans), indexScans: operation(indexScans, other.indexScans),
                inserted: operation(inserted, other.inserted), updated: operation(updated, other.updated))
        }
    }

    var tables: [String: Counts]

    /// `operation` applied table by table and field by field; a table one side lacks counts 0.
    func combined(with other: TableWork, _ operation: (Double, Double) -> Double) -> TableWork {
        let names = Set(tables.keys).union(other.tables.keys)
        return TableWork(tables: Dictionary(uniqueKeysWithValues: names.map { name in
            (name, (tables[name] ?? Counts()).combined(with: other.tables[name] ?? Counts(), operation))
        }))
    }

    static func + (a: TableWork, b: TableWork) -> TableWork { a.combined(with: b, +) }
    static func - (a: TableWork, b: TableWork) -> TableWork { a.combined(with: b, -) }

    func perTransfer(_ count: Int) -> TableWork {
        let n = Double(max(count, 1))
        return TableWork(tables: tables.mapValues { $0.combined(with: Counts()) { value, _ in value / n } })
    }

    var total: Counts { tables.values.reduce(Counts()) { $0.combined(with: $1, +) } }

    /// Tables where the two wrote different numbers of rows. Scans are not compared: as updates
    /// bloat the small, hot balance table and autovacuum re-analyzes it, the planner moves
    /// between one sequential scan and an index scan per row for the same statement.
    func differences(from other: TableWork) -> [String] {
        Set(tables.keys).union(other.tables.keys).sorted().filter { name in
            // A key's last use is stamped at most once a minute: that count follows the clock.
            guard name != "api_keys" else { return false }
            let (a, b) = (tables[name] ?? Counts(), other.tables[name] ?? Counts())
            return abs(a.inserted - b.inserted) > 0.005 || abs(a.updated - b.updated) > 0.005
        }
    }
}
