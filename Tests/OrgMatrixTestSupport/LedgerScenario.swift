import Foundation
import Logging
import Metrics
import OrgMatrixCore
import PostgresNIO
import SMCrypto

// `sealBlock` seals one tenant: the product's sealer (`sealDueBlocks`) seals every tenant of the
// database, which would seal other tests' tenants while they count their blocks.
@testable import OrgMatrixStore

/// A fixture tenant with a real ledger, written through the Store as the API writes it, sealed
/// into blocks of three: WH-B holds its own key (registered by the owner, like `orgmatrix keys
/// register`) and signs on "its own machine"; every other org is custodial.
///
/// - transfer 1 (`claimed`): 5 L WH-A → WH-B, dispatched with the carrier's name and contract
///   price as private values (`carrier`), dispatch committed (WH-A, NORTH), received with
///   1 L lost (a claim) and flagged (WH-B signs, WH-A approves), trued up and its claim settled
///   for 300 fen by HQ;
/// - transfer 2 (`received`): dispatch committed, receipt signed by WH-B only: pending;
/// - transfer 3 (`disputed`): dispatched, NORTH disputes the dispatch;
/// - transfer 4 (`created`): created only, no transaction.
///
/// Committed: 7 key registrations (HQ, NORTH, QA, WH-A, WH-C, the orderer, WH-B), the pricing rule
/// version tenant apply publishes, and 5 transfer transactions, all sealed; pending 1, disputed 1.
/// Endorsements: HQ's of the 8 tenant events, 2 of each committed dispatch and of the committed
/// receipt, HQ's of the true-up and the claim settlement, WH-B's of the pending receipt and WH-A's
/// of the disputed dispatch.
public struct LedgerScenario: Sendable {
    public let fixture: TenantFixture
    /// WH-B's client-held private key.
    public let clientKey: SM2PrivateKey
    public let claimed: Int64
    public let received: Int64
    public let disputed: Int64
    public let created: Int64
    /// Transaction hashes by transfer and type.
    public let evidence: [Int64: [LedgerTransactionType: LedgerHash]]

    public static let (transactions, committedTransactions, endorsements) = (15, 13, 18)
    /// The private values of transfer 1's dispatch.
    public static let carrier: [LedgerPrivateField: JSONValue] = [.carrierName: .string("顺丰速运"), .carrierContractPriceFen: .integer(180_000)]
    public static let rule = SealingRule(maxTransactions: 3, maxAge: .zero)

    public func hash(_ transfer: Int64, _ type: LedgerTransactionType) -> LedgerHash { evidence[transfer]![type]! }

    public static func make(label: String = "ledger") async throws -> LedgerScenario {
        let fixture = try await TenantFixture.create(label: label, ledger: TenantFixture.ledger)
        let environment = try await SharedDatabase.environment()
        let masterKey = try TestMasterKey.shared().key
        let clientKey = SM2PrivateKey.generate()
        try await withClient(environment.ownerURL, maximumConnections: 1) { client in
            _ = try await KeyAdmin(client: client, logger: testLogger, masterKey: masterKey).register(
                tenant: fixture.code, org: try OrgCode("WH-B"), publicKeyPEM: clientKey.publicKey.pemRepresentation)
        }
        let five = [PostingLine(itemCode: TransferScenario.milk.code, quantity: "5", unitFen: 0)]
        let (ids, evidence) = try await withClient(environment.appURL, maximumConnections: 1) { client in
            let database = Database(
                client: client, maximumConnections: 1, metricsFactory: NOOPMetricsHandler.instance, masterKey: masterKey)
            func sandbox<T: Sendable>(_ principal: String, _ work: @Sendable (Sandbox) async throws -> T) async throws -> T {
                try await database.withSandbox(
                    key: APIKey(fixture.key(principal))!, requestID: "scenario", logger: testLogger, work)
            }
            var evidence: [Int64: [LedgerTransactionType: LedgerHash]] = [:]
            func keep(_ record: TransferRecord) {
                for step in record.evidence { evidence[record.id, default: [:]][step.type] = step.hash }
            }
            _ = try await sandbox("hq-admin") { try await $0.createItem(TransferScenario.milk) }
            _ = try await sandbox("a-operator") {
                try await $0.postPurchaseReceipt(
                    supplier: "牧场", lines: [PostingLine(itemCode: TransferScenario.milk.code, quantity: "100", unitFen: 463)])
            }
            var ids: [Int64] = []
            for _ in 0..<4 {
                ids.append(
                    try await sandbox("a-operator") { try await $0.createTransfer(to: try OrgCode("WH-B"), lines: five).id })
            }
            for id in ids.prefix(3) {
                let values = id == ids[0] ? carrier : [:]
                keep(try await sandbox("a-operator") { try await $0.dispatchTransfer(id: id, privateValues: values) })
            }
            for id in ids.prefix(2) {
                let hash = evidence[id]![.transferDispatched]!
                _ = try await sandbox("north-operator") { try await $0.approveLedgerTransaction(hash: hash) }
            }
            let dispute = evidence[ids[2]]![.transferDispatched]!
            _ = try await sandbox("north-operator") {
                try await $0.disputeLedgerTransaction(hash: dispute, reason: "above the contract price")
            }
            for (id, lost) in [(ids[0], "1"), (ids[1], "0")] {
                let record = try await sandbox("b-operator") {
                    try await $0.receiveTransfer(
                        id: id, report: ReceiptReport(freightFen: 40, insuranceFen: 7, lost: [TransferScenario.milk.code: lost]))
                }
                keep(record)
                let hash = evidence[id]![.transferReceived]!
                _ = try await sandbox("b-operator") { sandbox in
                    let transaction = try await sandbox.ledgerTransaction(hash: hash)!
                    return try await sandbox.endorseLedgerTransaction(
                        hash: hash, org: try OrgCode("WH-B"), keyVersion: 1,
                        signatureDER: try clientKey.signature(for: transaction.canonicalBytes).derRepresentation)
                }
            }
            let receipt = evidence[ids[0]]![.transferReceived]!
            _ = try await sandbox("a-operator") { try await $0.approveLedgerTransaction(hash: receipt) }
            keep(try await sandbox("hq-admin") { [ids] in try await $0.trueUpTransfer(id: ids[0]) })
            keep(try await sandbox("hq-admin") { [ids] in try await $0.settleTransferClaim(id: ids[0], recoveredFen: 300) })
            return (ids, evidence)
        }
        try await seal(fixture)
        return LedgerScenario(
            fixture: fixture, clientKey: clientKey, claimed: ids[0], received: ids[1], disputed: ids[2], created: ids[3],
            evidence: evidence)
    }

    /// Seals the tenant's committed, unsealed transactions into blocks of three (the last block
    /// holds the rest), as its sealer would.
    public static func seal(_ fixture: TenantFixture) async throws {
        let environment = try await SharedDatabase.environment()
        let masterKey = try TestMasterKey.shared().key
        try await withClient(environment.appURL, maximumConnections: 1) { client in
            let database = Database(
                client: client, maximumConnections: 1, metricsFactory: NOOPMetricsHandler.instance, masterKey: masterKey)
            while try await database.sealBlock(
                tenantID: fixture.tenantID, tenant: fixture.code, rule: rule, masterKey: masterKey, logger: testLogger) != nil
            {}
        }
    }

    /// Runs `work` in `principal`'s sandbox (a key of the fixture), with the test master key.
    public func asPrincipal<T: Sendable>(_ principal: String, _ work: @escaping @Sendable (Sandbox) async throws -> T) async throws -> T {
        let environment = try await SharedDatabase.environment()
        let masterKey = try TestMasterKey.shared().key
        return try await withClient(environment.appURL, maximumConnections: 1) { client in
            let database = Database(
                client: client, maximumConnections: 1, metricsFactory: NOOPMetricsHandler.instance, masterKey: masterKey)
            return try await database.withSandbox(key: APIKey(fixture.key(principal))!, requestID: "scenario", logger: testLogger, work)
        }
    }

    /// A checkpoint every org with a key has signed: HQ gives QA a writing principal (the
    /// fixture's QA principal supervises, and a supervisor signs nothing), every custodial org's
    /// principal approves, WH-B signs with its own key.
    public func checkpointSignedByEveryOrg() async throws -> LedgerCheckpointRecord {
        let (_, qa) = try await asPrincipal("hq-admin") {
            try await $0.createPrincipal(PrincipalSpec(name: try PrincipalName("qa-operator"), org: try OrgCode("QA"), role: .orgOperator))
        }
        let record = try await checkpoint(approving: ["hq-admin", "north-operator", "a-operator", "c-operator"], clientSigns: true)
        let environment = try await SharedDatabase.environment()
        let masterKey = try TestMasterKey.shared().key
        let number = record.checkpoint.number
        return try await withClient(environment.appURL, maximumConnections: 1) { client in
            let database = Database(
                client: client, maximumConnections: 1, metricsFactory: NOOPMetricsHandler.instance, masterKey: masterKey)
            return try await database.withSandbox(key: qa, requestID: "scenario", logger: testLogger) {
                try await $0.approveCheckpoint(number: number)
            }
        }
    }

    /// HQ cuts a checkpoint at the newest block; each of `approving` (principals of custodial
    /// orgs) approves it, and WH-B signs it with its own key when `clientSigns`.
    @discardableResult
    public func checkpoint(approving: [String], clientSigns: Bool) async throws -> LedgerCheckpointRecord {
        var record = try await asPrincipal("hq-admin") { try await $0.cutCheckpoint() }
        let number = record.checkpoint.number
        for principal in approving { record = try await asPrincipal(principal) { try await $0.approveCheckpoint(number: number) } }
        if clientSigns {
            let signature = try clientKey.signature(for: record.canonicalBytes).derRepresentation
            record = try await asPrincipal("b-operator") {
                try await $0.signCheckpoint(number: number, org: try OrgCode("WH-B"), keyVersion: 1, signatureDER: signature)
            }
        }
        return record
    }

    /// WH-A approves transfer 2's pending receipt, which commits it, and the sealer seals it: the
    /// log grows by one transaction in a block of its own.
    public func commitPendingReceipt() async throws {
        let receipt = hash(received, .transferReceived)
        _ = try await asPrincipal("a-operator") { try await $0.approveLedgerTransaction(hash: receipt) }
        try await Self.seal(fixture)
    }

    /// `TenantFixture.tamper` on the scenario's tenant.
    public func tamper(
        disabling tables: [String], _ work: @Sendable (PostgresConnection, UUID) async throws -> Void
    ) async throws {
        try await fixture.tamper(disabling: tables, work)
    }

    /// The verification `principal` runs (an hq_admin or auditor key of the fixture).
    public func verify(as principal: String = "hq-auditor") async throws -> LedgerVerification {
        let environment = try await SharedDatabase.environment()
        return try await withClient(environment.appURL, maximumConnections: 1) { client in
            let database = Database(client: client, maximumConnections: 1, metricsFactory: NOOPMetricsHandler.instance)
            return try await database.verifyLedger(key: APIKey(fixture.key(principal))!, requestID: "verify", logger: testLogger)
        }
    }
}

extension TenantFixture {
    /// Changes the tenant's rows as the owner, the one role that can: `work` runs in one
    /// transaction of its own with every user trigger of `tables` (append-only, order, authorship)
    /// off inside it and on again before it commits, so no other session sees them off. The
    /// owner owns the tables, so it may `ALTER TABLE … DISABLE TRIGGER`; it is no superuser, so
    /// `session_replication_role` is not open to it.
    public func tamper(
        disabling tables: [String], _ work: @Sendable (PostgresConnection, UUID) async throws -> Void
    ) async throws {
        let environment = try await SharedDatabase.environment()
        let tenant = tenantID.rawValue
        let ordered = tables.sorted()
        // ALTER TABLE … DISABLE TRIGGER takes a SHARE ROW EXCLUSIVE lock on each table, which every
        // other test's writes conflict with. Taken one by one they would queue behind those
        // writers while holding the first ones, and deadlock them (the victim is then another
        // test). So all are taken at once, NOWAIT, before anything else: a tamper that cannot
        // have them all now waits for nobody, lets go and tries again.
        for _ in 1...1000 {
            let gotLocks = try await withConnection(environment.ownerURL) { connection -> Bool in
                try await connection.query("BEGIN", logger: testLogger)
                do {
                    if !ordered.isEmpty {
                        try await connection.query(
                            PostgresQuery(unsafeSQL: "LOCK TABLE \(ordered.joined(separator: ", ")) IN SHARE ROW EXCLUSIVE MODE NOWAIT"),
                            logger: testLogger)
                    }
                } catch let error as PSQLError where error.sqlState == "55P03" {
                    _ = try? await connection.query("ROLLBACK", logger: testLogger)
                    return false
                } catch let error as PSQLError {
                    throw TestSetupError("the owner's locks on \(ordered): " + String(reflecting: error))
                }
                do {
                    for table in ordered {
                        try await connection.query(PostgresQuery(unsafeSQL: "ALTER TABLE \(table) DISABLE TRIGGER USER"), logger: testLogger)
                    }
                    try await work(connection, tenant)
                    for table in ordered {
                        try await connection.query(PostgresQuery(unsafeSQL: "ALTER TABLE \(table) ENABLE TRIGGER USER"), logger: testLogger)
                    }
                    try await connection.query("COMMIT", logger: testLogger)
                    return true
                } catch let error as PSQLError {
                    _ = try? await connection.query("ROLLBACK", logger: testLogger)
                    throw TestSetupError("the owner's change: " + String(reflecting: error))
                } catch {
                    _ = try? await connection.query("ROLLBACK", logger: testLogger)
                    throw error
                }
            }
            if gotLocks { return }
            try await Task.sleep(for: .milliseconds(10))
        }
        throw TestSetupError("the owner's change: \(ordered) stayed locked by other writers for 1,000 tries")
    }
}
