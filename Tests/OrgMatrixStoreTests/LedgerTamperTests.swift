import Foundation
import NIOCore
import OrgMatrixCore
import OrgMatrixStore
import OrgMatrixTestSupport
import PostgresNIO
import SMCrypto
import Testing

/// The online verification against a ledger written through the Store, then changed behind its
/// back by the one role that can: the owner, which owns the tables and so may switch their
/// append-only triggers off inside its own transaction (`ALTER TABLE … DISABLE TRIGGER`; the
/// owner is no superuser, so `session_replication_role` is not open to it). Each tamper runs on
/// a tenant of its own and must be named by kind, place and field.
@Suite struct LedgerTamperTests {
    /// A failure as the assertions match it.
    struct Finding: Hashable, CustomStringConvertible {
        let kind: LedgerVerificationFailure.Kind
        let block: Int64?
        let transaction: LedgerHash?
        let field: String

        init(_ kind: LedgerVerificationFailure.Kind, block: Int64? = nil, transaction: LedgerHash? = nil, field: String) {
            (self.kind, self.block, self.transaction, self.field) = (kind, block, transaction, field)
        }

        init(_ failure: LedgerVerificationFailure) {
            self.init(failure.kind, block: failure.blockNumber, transaction: failure.transactionHash, field: failure.field)
        }

        var description: String {
            "\(kind.rawValue) \(block.map { "block \($0) " } ?? "")\(transaction.map { "tx \($0.hex.prefix(12)) " } ?? "")\(field)"
        }
    }

    @Test func aLedgerWrittenThroughTheStoreVerifiesCleanForHQAndItsAuditor() async throws {
        let scenario = try await LedgerScenario.make(label: "verify-clean")
        for principal in ["hq-auditor", "hq-admin"] {
            let verification = try await scenario.verify(as: principal)
            #expect(verification.report.isClean, "\(verification.report.failures)")
            let counts = verification.report.counts
            #expect(
                counts.transactions == LedgerScenario.transactions && counts.committed == LedgerScenario.committedTransactions
                    && counts.pending == 1 && counts.disputed == 1, "\(counts)")
            #expect(counts.sealedTransactions == LedgerScenario.committedTransactions && counts.blocks >= 5, "\(counts)")
            #expect(counts.endorsementsChecked == LedgerScenario.endorsements, "\(counts)")
            #expect(verification.keys == 7 && verification.transfersReconciled == 4)
        }
    }

    @Test func onlyTheRolesThatSeeTheTenantVerifyIt() async throws {
        let scenario = try await LedgerScenario.make(label: "verify-roles")
        for principal in ["a-operator", "north-operator", "qa-supervisor", "b-integration"] {
            do {
                _ = try await scenario.verify(as: principal)
                Issue.record("\(principal) verified the ledger")
            } catch let error as StoreError {
                #expect(error.code == .forbidden, "\(principal): \(error)")
            }
        }
    }

    /// What the owner changes, one kind of change per case.
    enum Tamper: String, CaseIterable, CustomTestStringConvertible {
        case transactionBytesEdited, transactionTimeColumnEdited, transactionForged, transactionDeleted,
            transactionOnlyTheOwnerNamed
        case endorsementKeyVersionEdited, endorsementDeleted, endorsementForged, signaturesSwapped
        case disputeMovedToAnotherOrg, commitInserted
        case publicKeyReplaced
        case blockHeaderEdited, blockEntryDeleted, blockEntriesReordered, blockDeleted, blockForgedAndResigned
        case postedFiguresEdited

        var testDescription: String { rawValue }
    }

    @Test(arguments: Tamper.allCases)
    func verificationNamesATamper(_ tamper: Tamper) async throws {
        let scenario = try await LedgerScenario.make(label: "tamper")
        let owner = Owner(scenario: scenario)
        let (claimed, received) = (scenario.claimed, scenario.received)
        // What the findings must include; `only` when nothing else may be found.
        var expected: Set<Finding> = []
        var only = true
        switch tamper {
        case .transactionBytesEdited:
            // The receipt said 40 fen of freight; its bytes now say 41, everything else as it was.
            let receipt = scenario.hash(claimed, .transferReceived)
            try await owner.run(disabling: ["ledger_transactions"]) { connection, tenant in
                try await connection.query(
                    """
                    UPDATE ledger_transactions
                    SET canonical = convert_to(replace(convert_from(canonical, 'UTF8'), '"actual_freight_fen":40', '"actual_freight_fen":41'), 'UTF8')
                    WHERE tenant_id = \(tenant) AND tx_hash = \(ByteBuffer(bytes: receipt.bytes))
                    """, logger: testLogger)
            }
            let block = try await owner.block(sealing: receipt)
            expected = [
                Finding(.transactionHashMismatch, transaction: receipt, field: "tx_hash"),
                Finding(.signatureInvalid, transaction: receipt, field: "endorsements[WH-A].signature"),
                Finding(.signatureInvalid, transaction: receipt, field: "endorsements[WH-B].signature"),
                Finding(.statusMismatch, transaction: receipt, field: "status"),
                Finding(.sealedTransactionMissing, block: block, transaction: receipt, field: "transactions"),
                Finding(.bookMismatch, transaction: receipt, field: "transfers[\(claimed)].actual_freight_fen"),
            ]
            // The transfer figure checks (LedgerBodyChecks.standard) may name the edited receipt too.
            only = false
        case .transactionTimeColumnEdited:
            let dispatch = scenario.hash(claimed, .transferDispatched)
            try await owner.run(disabling: ["ledger_transactions"]) { connection, tenant in
                try await connection.query(
                    """
                    UPDATE ledger_transactions SET at = at + interval '1 second'
                    WHERE tenant_id = \(tenant) AND tx_hash = \(ByteBuffer(bytes: dispatch.bytes))
                    """, logger: testLogger)
            }
            expected = [Finding(.transactionRowMismatch, transaction: dispatch, field: "at")]
        case .transactionForged:
            // A receipt for the transfer never dispatched: transfer 1's receipt body, renamed.
            let forged = try await owner.forgedReceipt(for: scenario.created, from: scenario.hash(claimed, .transferReceived))
            expected = [Finding(.transactionWithoutStep, transaction: forged, field: "transfers[\(scenario.created)].status")]
            only = false
        case .transactionDeleted:
            let receipt = scenario.hash(received, .transferReceived)
            try await owner.run(disabling: ["ledger_endorsements", "ledger_transactions"]) { connection, tenant in
                for table in ["ledger_endorsements", "ledger_transactions"] {
                    try await connection.query(
                        PostgresQuery(
                            unsafeSQL: "DELETE FROM \(table) WHERE tenant_id = $1 AND tx_hash = $2", binds: binds(tenant, receipt)
                        ),
                        logger: testLogger)
                }
            }
            expected = [Finding(.stepWithoutTransaction, field: "transfers[\(received)].status")]
        case .transactionOnlyTheOwnerNamed:
            // A revocation of NORTH's key that names no endorser org: 0013 alone hid it from HQ and its auditor.
            let hidden = try await owner.insertRevocationNamingNoOrg()
            expected = [
                Finding(.keyEventMismatch, transaction: hidden, field: "body.revoked_at"),
                Finding(.transactionRowMismatch, transaction: hidden, field: "endorser_org_ids"),
            ]
        case .endorsementKeyVersionEdited:
            let dispatch = scenario.hash(claimed, .transferDispatched)
            try await owner.run(disabling: ["ledger_endorsements"]) { connection, tenant in
                try await connection.query(
                    """
                    UPDATE ledger_endorsements SET key_version = 2
                    WHERE tenant_id = \(tenant) AND tx_hash = \(ByteBuffer(bytes: dispatch.bytes)) AND org_code = 'WH-A'
                    """, logger: testLogger)
            }
            expected = [
                Finding(.keyUnknown, transaction: dispatch, field: "endorsements[WH-A].key_version"),
                Finding(.statusMismatch, transaction: dispatch, field: "status"),
                Finding(
                    .sealedTransactionNotCommitted, block: try await owner.block(sealing: dispatch), transaction: dispatch,
                    field: "transactions"),
            ]
        case .endorsementDeleted:
            let dispatch = scenario.hash(claimed, .transferDispatched)
            try await owner.run(disabling: ["ledger_endorsements"]) { connection, tenant in
                try await connection.query(
                    """
                    DELETE FROM ledger_endorsements
                    WHERE tenant_id = \(tenant) AND tx_hash = \(ByteBuffer(bytes: dispatch.bytes)) AND org_code = 'NORTH'
                    """, logger: testLogger)
            }
            expected = [
                Finding(.statusMismatch, transaction: dispatch, field: "status"),
                Finding(
                    .sealedTransactionNotCommitted, block: try await owner.block(sealing: dispatch), transaction: dispatch,
                    field: "transactions"),
            ]
        case .endorsementForged:
            // WH-A "approves" the pending receipt with a signature over other bytes.
            let receipt = scenario.hash(received, .transferReceived)
            let signature = try scenario.clientKey.signature(for: Array("other bytes".utf8)).derRepresentation
            try await owner.run(disabling: []) { connection, tenant in
                try await connection.query(
                    """
                    INSERT INTO ledger_endorsements (tenant_id, tx_hash, org_id, org_code, key_version, signature)
                    SELECT tenant_id, \(ByteBuffer(bytes: receipt.bytes)), org_id, code, 1, \(ByteBuffer(bytes: signature))
                    FROM orgs WHERE tenant_id = \(tenant) AND code = 'WH-A'
                    """, logger: testLogger)
            }
            expected = [Finding(.signatureInvalid, transaction: receipt, field: "endorsements[WH-A].signature")]
        case .signaturesSwapped:
            let (first, second) = (scenario.hash(claimed, .transferDispatched), scenario.hash(received, .transferDispatched))
            try await owner.run(disabling: ["ledger_endorsements"]) { connection, tenant in
                try await connection.query(
                    """
                    UPDATE ledger_endorsements e SET signature = o.signature
                    FROM ledger_endorsements o
                    WHERE e.tenant_id = \(tenant) AND o.tenant_id = e.tenant_id AND e.org_code = 'WH-A' AND o.org_code = 'WH-A'
                      AND e.tx_hash = ANY(\([first, second].map { ByteBuffer(bytes: $0.bytes) })::bytea[])
                      AND o.tx_hash = ANY(\([first, second].map { ByteBuffer(bytes: $0.bytes) })::bytea[]) AND o.tx_hash <> e.tx_hash
                    """, logger: testLogger)
            }
            for hash in [first, second] {
                expected.insert(Finding(.signatureInvalid, transaction: hash, field: "endorsements[WH-A].signature"))
                expected.insert(Finding(.statusMismatch, transaction: hash, field: "status"))
                expected.insert(
                    Finding(
                        .sealedTransactionNotCommitted, block: try await owner.block(sealing: hash), transaction: hash,
                        field: "transactions"))
            }
        case .disputeMovedToAnotherOrg:
            // QA is no endorser of the dispatch: its "dispute" stops nothing, and the dispatch is pending.
            let dispatch = scenario.hash(scenario.disputed, .transferDispatched)
            try await owner.run(disabling: ["ledger_disputes"]) { connection, tenant in
                try await connection.query(
                    """
                    UPDATE ledger_disputes d SET org_id = o.org_id, org_code = o.code
                    FROM orgs o WHERE o.tenant_id = d.tenant_id AND o.code = 'QA'
                      AND d.tenant_id = \(tenant) AND d.tx_hash = \(ByteBuffer(bytes: dispatch.bytes))
                    """, logger: testLogger)
            }
            expected = [
                Finding(.disputeByUnnamedOrg, transaction: dispatch, field: "dispute.org"),
                Finding(.statusMismatch, transaction: dispatch, field: "status"),
            ]
        case .commitInserted:
            // The pending receipt "committed" with WH-B's endorsement only (0013's trigger needs just one).
            let receipt = scenario.hash(received, .transferReceived)
            try await owner.run(disabling: []) { connection, tenant in
                try await connection.query(
                    "INSERT INTO ledger_commits (tenant_id, tx_hash) VALUES (\(tenant), \(ByteBuffer(bytes: receipt.bytes)))",
                    logger: testLogger)
            }
            expected = [Finding(.statusMismatch, transaction: receipt, field: "status")]
            // Another test's sealer may seal the new commit (then it is also sealed uncommitted).
            only = false
        case .publicKeyReplaced:
            let replacement = SM2PrivateKey.generate().publicKey.derRepresentation
            try await owner.run(disabling: ["org_keys"]) { connection, tenant in
                try await connection.query(
                    """
                    UPDATE org_keys SET public_key = \(ByteBuffer(bytes: replacement))
                    WHERE tenant_id = \(tenant) AND owner = 'NORTH' AND version = 1
                    """, logger: testLogger)
            }
            let registration = try await owner.keyRegistration(of: "NORTH")
            expected = [
                Finding(.keyEventMismatch, transaction: registration, field: "body.public_key"),
                Finding(.keyNotRegistered, field: "keys[NORTH/1]"),
            ]
            for id in [claimed, received] {
                let dispatch = scenario.hash(id, .transferDispatched)
                expected.insert(Finding(.signatureInvalid, transaction: dispatch, field: "endorsements[NORTH].signature"))
                expected.insert(Finding(.statusMismatch, transaction: dispatch, field: "status"))
                expected.insert(
                    Finding(
                        .sealedTransactionNotCommitted, block: try await owner.block(sealing: dispatch), transaction: dispatch,
                        field: "transactions"))
            }
        case .blockHeaderEdited:
            let number = try await owner.blockWithAnother()
            try await owner.editHeader(number) { header in
                BlockHeader(
                    tenant: header.tenant, number: header.number, previousHash: header.previousHash, dataHash: header.dataHash,
                    transactionCount: header.transactionCount, logSize: header.logSize, logRoot: header.logRoot,
                    sealedAt: UTCMicros(microsecondsSinceEpoch: header.sealedAt.microsecondsSinceEpoch + 1))
            }
            expected = [
                Finding(.blockHashMismatch, block: number, field: "block_hash"),
                Finding(.signatureInvalid, block: number, field: "orderer_signature"),
                Finding(.blockRowMismatch, block: number, field: "sealed_at"),
                Finding(.previousHashMismatch, block: number + 1, field: "prev_hash"),
            ]
        case .blockEntryDeleted:
            let number = try await owner.blockWithAnother()
            try await owner.run(disabling: ["ledger_block_entries"]) { connection, tenant in
                try await connection.query(
                    "DELETE FROM ledger_block_entries WHERE tenant_id = \(tenant) AND block_number = \(number) AND position = 0",
                    logger: testLogger)
            }
            expected = [
                Finding(.dataHashMismatch, block: number, field: "data_hash"),
                Finding(.transactionCountMismatch, block: number, field: "tx_count"),
                Finding(.logSizeMismatch, block: number, field: "log_size"),
                Finding(.logRootMismatch, block: number, field: "log_root"),
                Finding(.blockRowMismatch, block: number, field: "entries[0].log_index"),
            ]
            only = false
        case .blockEntriesReordered:
            let number = try await owner.blockWithAnother()
            try await owner.swapFirstEntries(of: number, logIndexesToo: false)
            expected = [
                Finding(.dataHashMismatch, block: number, field: "data_hash"),
                Finding(.logRootMismatch, block: number, field: "log_root"),
                Finding(.blockRowMismatch, block: number, field: "entries[0].log_index"),
                Finding(.blockRowMismatch, block: number, field: "entries[1].log_index"),
            ]
            only = false
        case .blockDeleted:
            let number = try await owner.blockWithAnother()
            try await owner.run(disabling: ["ledger_block_entries", "ledger_blocks"]) { connection, tenant in
                for table in ["ledger_block_entries", "ledger_blocks"] {
                    let column = table == "ledger_blocks" ? "number" : "block_number"
                    try await connection.query(
                        PostgresQuery(
                            unsafeSQL: "DELETE FROM \(table) WHERE tenant_id = $1 AND \(column) = $2",
                            binds: binds(tenant, number)),
                        logger: testLogger)
                }
            }
            expected = [
                Finding(.blockOutOfSequence, block: number + 1, field: "number"),
                Finding(.previousHashMismatch, block: number + 1, field: "prev_hash"),
            ]
            only = false
        case .blockForgedAndResigned:
            // The forger reorders a block, recomputes its trees and hash and signs it with the orderer's own key: the block
            // itself verifies; the next block's link and every later log root do not.
            let number = try await owner.blockWithAnother()
            try await owner.swapFirstEntries(of: number, logIndexesToo: true)
            try await owner.resealAndSign(number)
            let verification = try await scenario.verify()
            let findings = verification.report.failures.map(Finding.init)
            #expect(!findings.contains { $0.block == number }, "\(findings)")
            #expect(findings.contains(Finding(.previousHashMismatch, block: number + 1, field: "prev_hash")), "\(findings)")
            #expect(findings.contains(Finding(.logRootMismatch, block: number + 1, field: "log_root")), "\(findings)")
            #expect(findings.allSatisfy { [.previousHashMismatch, .logRootMismatch].contains($0.kind) }, "\(findings)")
            return
        case .postedFiguresEdited:
            // The ledger is untouched and verifies; the books say otherwise.
            try await owner.run(disabling: ["transfer_lines", "transfers"]) { connection, tenant in
                try await connection.query(
                    "UPDATE transfers SET actual_total_fen = actual_total_fen + 1 WHERE tenant_id = \(tenant) AND transfer_id = \(claimed)",
                    logger: testLogger)
                try await connection.query(
                    """
                    UPDATE transfer_lines SET landed_value_fen = landed_value_fen + 1
                    WHERE tenant_id = \(tenant) AND transfer_id = \(claimed) AND line_no = 1
                    """, logger: testLogger)
                // Backdated, as if priced under an earlier rule version.
                try await connection.query(
                    "UPDATE transfers SET created_at = created_at - interval '1 day' WHERE tenant_id = \(tenant) AND transfer_id = \(claimed)",
                    logger: testLogger)
            }
            expected = [
                Finding(
                    .bookMismatch, transaction: scenario.hash(claimed, .transferDispatched), field: "transfers[\(claimed)].created_at"),
                Finding(
                    .bookMismatch, transaction: scenario.hash(claimed, .transferReceived),
                    field: "transfers[\(claimed)].actual_total_fen"),
                Finding(
                    .bookMismatch, transaction: scenario.hash(claimed, .transferTruedUp),
                    field: "transfers[\(claimed)].actual_total_fen"),
                Finding(
                    .bookMismatch, transaction: scenario.hash(claimed, .transferReceived),
                    field: "transfer_lines[\(claimed)/1].landed_value_fen"),
            ]
        }
        let verification = try await scenario.verify()
        let findings = Set(verification.report.failures.map(Finding.init))
        #expect(!verification.report.isClean)
        #expect(expected.isSubset(of: findings), "missing \(expected.subtracting(findings)); found \(findings)")
        if only { #expect(findings == expected, "besides: \(findings.subtracting(expected))") }
    }

    /// The application role changes no ledger row in raw SQL, whoever its principal: no UPDATE,
    /// DELETE or TRUNCATE grant on any ledger table.
    @Test func theAppRoleCannotUpdateDeleteOrTruncateAnyLedgerTable() async throws {
        let scenario = try await LedgerScenario.make(label: "ledger-grants")
        let before = try await Owner(scenario: scenario).ledgerRowCounts()
        let environment = try await SharedDatabase.environment()
        let tables = [
            "ledger_transactions", "ledger_endorsements", "ledger_disputes", "ledger_commits", "ledger_blocks",
            "ledger_block_entries",
        ]
        for principal in ["hq-admin", "a-operator"] {
            let key = APIKey(scenario.fixture.key(principal))!
            for table in tables {
                for statement in ["UPDATE \(table) SET tenant_id = tenant_id", "DELETE FROM \(table)", "TRUNCATE \(table)"] {
                    let sqlState = try await withConnection(environment.appURL) { connection -> String? in
                        try await connection.query("BEGIN", logger: testLogger)
                        _ = try await connection.query(
                            "SELECT 1 FROM app_begin(\(key.tenant.rawValue), \(ByteBuffer(bytes: key.hash)))", logger: testLogger
                        ).collect()
                        do {
                            try await connection.query(PostgresQuery(unsafeSQL: statement), logger: testLogger)
                            try await connection.query("COMMIT", logger: testLogger)
                            return nil
                        } catch {
                            _ = try? await connection.query("ROLLBACK", logger: testLogger)
                            return (error as? PSQLError)?.sqlState ?? "\(error)"
                        }
                    }
                    #expect(sqlState == "42501", "\(principal): \(statement) → \(sqlState ?? "committed")")
                }
            }
        }
        #expect(try await Owner(scenario: scenario).ledgerRowCounts() == before)
        #expect(try await scenario.verify().report.isClean)
    }
}

/// `$1` = the tenant, `$2` = `value`, for statements whose table name the test chooses.
private func binds(_ tenant: UUID, _ value: some PostgresNonThrowingEncodable) -> PostgresBindings {
    var bindings = PostgresBindings()
    bindings.append(tenant)
    bindings.append(value)
    return bindings
}

private func binds(_ tenant: UUID, _ hash: LedgerHash) -> PostgresBindings { binds(tenant, ByteBuffer(bytes: hash.bytes)) }

/// The owner's hand on a scenario's tenant (`LedgerScenario.tamper`), and what it reads.
private struct Owner {
    let scenario: LedgerScenario
    var tenant: UUID { scenario.fixture.tenantID.rawValue }

    func run(disabling tables: [String], _ work: @Sendable (PostgresConnection, UUID) async throws -> Void) async throws {
        try await scenario.tamper(disabling: tables, work)
    }

    /// The block listing `hash`.
    func block(sealing hash: LedgerHash) async throws -> Int64 {
        try await query(
            "SELECT block_number FROM ledger_block_entries WHERE tenant_id = \(tenant) AND tx_hash = \(ByteBuffer(bytes: hash.bytes))"
        ).first!.decode(Int64.self)
    }

    /// The first block with at least two entries that has a block after it.
    func blockWithAnother() async throws -> Int64 {
        let number = try await query(
            """
            SELECT b.number FROM ledger_blocks b
            WHERE b.tenant_id = \(tenant) AND b.tx_count >= 2
              AND EXISTS (SELECT 1 FROM ledger_blocks n WHERE n.tenant_id = b.tenant_id AND n.number = b.number + 1)
            ORDER BY b.number LIMIT 1
            """
        ).first?.decode(Int64.self)
        return try #require(number, "the scenario seals at least two blocks, the first of two transactions or more")
    }

    /// The `key.registered` transaction of `owner`'s version 1.
    func keyRegistration(of owner: String) async throws -> LedgerHash {
        let rows = try await query(
            "SELECT tx_hash, canonical FROM ledger_transactions WHERE tenant_id = \(tenant) AND tx_type = 'key.registered'")
        for row in rows {
            let (hash, canonical) = try row.decode((ByteBuffer, ByteBuffer).self)
            let event = try KeyEvent.Registered(
                ledgerBody: try LedgerTransaction(canonicalBytes: Array(canonical.readableBytesView)).body)
            if event.owner.name == owner && event.version == 1 { return try LedgerHash(Array(hash.readableBytesView)) }
        }
        throw TestSetupError("no key.registered for \(owner)")
    }

    /// Swaps the entries at positions 0 and 1 of block `number`; with `logIndexesToo`, their log
    /// indexes follow their positions, as a careful forger would have them.
    func swapFirstEntries(of number: Int64, logIndexesToo: Bool) async throws {
        // Through a free position (and log index: both are unique): 0 → spare, 1 → 0, spare → 1.
        let (spare, far) = (Int32(1_000_000), Int64(1) << 40)
        let steps: [(from: Int32, to: Int32, logIndexBy: Int64)] = [(0, spare, far), (1, 0, -1), (spare, 1, 1 - far)]
        try await run(disabling: ["ledger_block_entries"]) { connection, tenant in
            for step in steps {
                let logIndexBy = logIndexesToo ? step.logIndexBy : 0
                try await connection.query(
                    """
                    UPDATE ledger_block_entries SET position = \(step.to), log_index = log_index + \(logIndexBy)
                    WHERE tenant_id = \(tenant) AND block_number = \(number) AND position = \(step.from)
                    """, logger: testLogger)
            }
        }
    }

    /// Rewrites block `number`'s header bytes with `edit` (neither re-hashed nor re-signed).
    func editHeader(_ number: Int64, _ edit: @Sendable (BlockHeader) -> BlockHeader) async throws {
        let stored = try await query("SELECT header FROM ledger_blocks WHERE tenant_id = \(tenant) AND number = \(number)").first!
        let header = edit(try BlockHeader(canonicalBytes: Array(try stored.decode(ByteBuffer.self).readableBytesView)))
        try await run(disabling: ["ledger_blocks"]) { connection, tenant in
            try await connection.query(
                "UPDATE ledger_blocks SET header = \(ByteBuffer(bytes: header.canonicalBytes)) WHERE tenant_id = \(tenant) AND number = \(number)",
                logger: testLogger)
        }
    }

    /// Block `number` made again from its entries as they now stand: its trees, header and hash
    /// recomputed, signed with the orderer's custodial key (unsealed with the master key).
    func resealAndSign(_ number: Int64) async throws {
        let environment = try await SharedDatabase.environment()
        let masterKey = try TestMasterKey.shared().key
        let scenario = scenario
        let headers = try await query(
            "SELECT header FROM ledger_blocks WHERE tenant_id = \(tenant) AND number <= \(number) ORDER BY number"
        )
        .map { try BlockHeader(canonicalBytes: Array(try $0.decode(ByteBuffer.self).readableBytesView)) }
        let entries = try await query(
            "SELECT block_number, tx_hash FROM ledger_block_entries WHERE tenant_id = \(tenant) AND block_number <= \(number) ORDER BY block_number, position"
        ).map { row in
            let (block, hash) = try row.decode((Int64, ByteBuffer).self)
            return (block, try LedgerHash(Array(hash.readableBytesView)))
        }
        var log = MerkleFrontier()
        for (block, hash) in entries where block < number { log.append(leafHash: MerkleHashing.sm3.leafHash(hash.bytes)) }
        let original = headers.last!
        let forged = try BlockHeader.seal(
            tenant: scenario.fixture.code, after: headers.dropLast().last,
            transactions: entries.filter { $0.0 == number }.map(\.1), log: &log,
            sealedAt: original.sealedAt)
        let bytes = forged.canonicalBytes
        let signature = try await withConnection(environment.ownerURL) { connection in
            try await Keys(tenantID: scenario.fixture.tenantID, connection: connection, logger: testLogger).sign(
                bytes, as: .orderer, masterKey: masterKey)
        }
        try await run(disabling: ["ledger_blocks"]) { connection, tenant in
            try await connection.query(
                """
                UPDATE ledger_blocks SET header = \(ByteBuffer(bytes: bytes)), block_hash = \(ByteBuffer(bytes: forged.hash.bytes)),
                    signature = \(ByteBuffer(bytes: signature.signature.derRepresentation)), orderer_key_version = \(signature.version)
                WHERE tenant_id = \(tenant) AND number = \(number)
                """, logger: testLogger)
        }
    }

    /// A `transfer.received` for transfer `id`, copied from `template`'s body with the transfer
    /// renamed, written with its own bytes, hash and columns; its hash.
    func forgedReceipt(for id: Int64, from template: LedgerHash) async throws -> LedgerHash {
        let stored = try await query(
            "SELECT canonical FROM ledger_transactions WHERE tenant_id = \(tenant) AND tx_hash = \(ByteBuffer(bytes: template.bytes))"
        ).first!
        let original = try LedgerTransaction(canonicalBytes: Array(try stored.decode(ByteBuffer.self).readableBytesView))
        guard case .object(var body) = original.body else { throw TestSetupError("a receipt body is an object") }
        body["transfer_id"] = .integer(id)
        let forged = LedgerTransaction(
            type: .transferReceived, tenant: original.tenant, at: original.at, endorsers: original.endorsers,
            policy: original.policy,
            body: .object(body))
        let (bytes, hash) = (forged.canonicalBytes, forged.hash)
        try await run(disabling: ["ledger_transactions"]) { connection, tenant in
            try await connection.query(
                """
                INSERT INTO ledger_transactions (tenant_id, tx_hash, tx_type, at, canonical, endorser_org_ids, transfer_id)
                SELECT tenant_id, \(ByteBuffer(bytes: hash.bytes)), tx_type, at, \(ByteBuffer(bytes: bytes)), endorser_org_ids, \(id)
                FROM ledger_transactions WHERE tenant_id = \(tenant) AND tx_hash = \(ByteBuffer(bytes: template.bytes))
                """, logger: testLogger)
        }
        return hash
    }

    /// A `key.revoked` of NORTH's version 1 (which no revocation row ends) whose
    /// endorser_org_ids is empty, though its policy names HQ; its hash.
    func insertRevocationNamingNoOrg() async throws -> LedgerHash {
        let atMicros = try await query("SELECT (extract(epoch FROM now()) * 1000000)::bigint").first!.decode(Int64.self)
        let transaction = LedgerTransaction(
            type: .keyRevoked, tenant: scenario.fixture.code, at: UTCMicros(microsecondsSinceEpoch: atMicros),
            endorsers: [.hq: try OrgCode("HQ")], policy: .role(.hq),
            body: KeyEvent.Revoked(
                owner: .org(try OrgCode("NORTH")), version: 1, revokedAt: UTCMicros(microsecondsSinceEpoch: atMicros),
                reason: "lost"
            ).ledgerBody)
        let (bytes, hash) = (transaction.canonicalBytes, transaction.hash)
        try await run(disabling: []) { connection, tenant in
            try await connection.query(
                """
                INSERT INTO ledger_transactions (tenant_id, tx_hash, tx_type, at, canonical, endorser_org_ids)
                VALUES (\(tenant), \(ByteBuffer(bytes: hash.bytes)), 'key.revoked', timestamptz 'epoch' + \(atMicros) * interval '1 microsecond',
                    \(ByteBuffer(bytes: bytes)), '{}')
                """, logger: testLogger)
        }
        return hash
    }

    /// Rows of every ledger table of the tenant.
    func ledgerRowCounts() async throws -> [Int] {
        var counts: [Int] = []
        for table in [
            "ledger_transactions", "ledger_endorsements", "ledger_disputes", "ledger_commits", "ledger_blocks",
            "ledger_block_entries",
        ] {
            counts.append(
                try await query(
                    PostgresQuery(unsafeSQL: "SELECT count(*)::int FROM \(table) WHERE tenant_id = $1", binds: binds(tenant))
                ).first!
                .decode(Int.self))
        }
        return counts
    }

    private func query(_ query: PostgresQuery) async throws -> [PostgresRow] {
        let environment = try await SharedDatabase.environment()
        return try await withConnection(environment.ownerURL) { connection in
            try await connection.query(query, logger: testLogger).collect()
        }
    }
}

private func binds(_ tenant: UUID) -> PostgresBindings {
    var bindings = PostgresBindings()
    bindings.append(tenant)
    return bindings
}
