import Foundation
import OrgMatrixCore
import OrgMatrixStore
import OrgMatrixTestSupport
import PostgresNIO
import SMCrypto
import Testing

/// The attack checkpoints are for (issue 12): whoever holds the database and the master key (an
/// owner-role attacker, HQ's operator) rewrites history and re-seals every block with the orderer
/// key, then re-cuts the checkpoint on the rewritten log and re-signs it with HQ's custodial key.
/// Everything the server holds then verifies; the checkpoint one org kept does not.
@Suite struct LedgerCheckpointCommandTests {
    private static func run(_ arguments: [String], key: String? = nil) throws -> ProcessOutput {
        try runProcess(TestEnvironment.orgmatrixExecutable, arguments, environment: key.map { ["ORGMATRIX_API_KEY": $0] } ?? [:])
    }

    @Test func aRewrittenAndResealedHistoryIsDetectedThroughTheCheckpointAnOrgKept() async throws {
        let scenario = try await LedgerScenario.make(label: "reseal")
        let environment = try await SharedDatabase.environment()
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("reseal-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: folder) }
        let tenant = scenario.fixture.code.rawValue
        let integration = scenario.fixture.key("b-integration")

        // Every org signs checkpoint 0; WH-B's integration keeps the document it signed.
        let kept = try await scenario.checkpoint(approving: ["hq-admin", "north-operator", "a-operator", "c-operator"], clientSigns: true)
        #expect(kept.unsigned.map(\.rawValue) == ["QA"])
        try Data(kept.canonicalBytes).write(to: URL(fileURLWithPath: folder + "/kept.json"))
        try await scenario.commitPendingReceipt()
        let orderer = try await scenario.asPrincipal("hq-auditor") { try await $0.keys.history(of: .orderer).latest!.publicKey }
        try Data(orderer.pemRepresentation.utf8).write(to: URL(fileURLWithPath: folder + "/orderer.pem"))

        // Honest: the log today extends the one WH-B signed.
        let size = String(kept.checkpoint.logSize)
        func consistency(_ out: String) throws -> ProcessOutput {
            try Self.run(
                ["ledger", "consistency", "--tenant", tenant, "--from", size, "--out", folder + "/" + out, "--database-url", environment.appURLText],
                key: integration)
        }
        func verify(_ proof: String) throws -> ProcessOutput {
            try Self.run([
                "ledger", "verify-consistency", "--checkpoint", folder + "/kept.json", "--proof", folder + "/" + proof, "--orderer-key",
                folder + "/orderer.pem",
            ])
        }
        #expect(try consistency("honest.json").status == 0)
        let honest = try verify("honest.json")
        #expect(honest.status == 0 && honest.text.contains("extends the log of \(size)"), "\(honest.text) \(honest.standardError)")

        // The attack: two transactions of block 0 change places, every block is re-sealed with the
        // orderer key at its old time, and checkpoint 0 is re-cut on the new log and re-signed by HQ.
        let masterKey = try TestMasterKey.shared().key
        let code = scenario.fixture.code
        try await scenario.tamper(disabling: ["ledger_blocks", "ledger_block_entries", "ledger_checkpoints", "ledger_checkpoint_signatures"]) {
            connection, tenantID in
            var blocks: [(count: Int, sealedAt: Int64)] = []
            for try await (count, sealedAt) in try await connection.query(
                """
                SELECT tx_count, (extract(epoch FROM sealed_at) * 1000000)::bigint FROM ledger_blocks WHERE tenant_id = \(tenantID)
                ORDER BY number
                """, logger: testLogger
            ).decode((Int32, Int64).self) {
                blocks.append((Int(count), sealedAt))
            }
            var log: [LedgerHash] = []
            for try await hash in try await connection.query(
                "SELECT tx_hash FROM ledger_block_entries WHERE tenant_id = \(tenantID) ORDER BY log_index", logger: testLogger
            ).decode(ByteBuffer.self) {
                log.append(try LedgerHash(Array(hash.readableBytesView)))
            }
            log.swapAt(1, 2)
            for table in ["ledger_checkpoint_signatures", "ledger_checkpoints", "ledger_block_entries", "ledger_blocks"] {
                try await connection.query(PostgresQuery(unsafeSQL: "DELETE FROM \(table) WHERE tenant_id = '\(tenantID)'"), logger: testLogger)
            }
            let keys = Keys(tenantID: TenantID(tenantID), connection: connection, logger: testLogger)
            var frontier = MerkleFrontier()
            var headers: [BlockHeader] = []
            var first = 0
            for block in blocks {
                let hashes = Array(log[first..<first + block.count])
                let header = try BlockHeader.seal(
                    tenant: code, after: headers.last, transactions: hashes, log: &frontier,
                    sealedAt: UTCMicros(microsecondsSinceEpoch: block.sealedAt))
                let signed = try await keys.sign(header.canonicalBytes, as: .orderer, masterKey: masterKey)
                try await connection.query(
                    """
                    INSERT INTO ledger_blocks (tenant_id, number, header, block_hash, prev_hash, tx_count, log_size, sealed_at,
                        orderer_key_version, signature)
                    VALUES (\(tenantID), \(header.number), \(ByteBuffer(bytes: header.canonicalBytes)), \(ByteBuffer(bytes: header.hash.bytes)),
                        \(ByteBuffer(bytes: header.previousHash.bytes)), \(Int32(block.count)), \(header.logSize),
                        timestamptz 'epoch' + \(block.sealedAt) * interval '1 microsecond', \(signed.version),
                        \(ByteBuffer(bytes: signed.signature.derRepresentation)))
                    """, logger: testLogger)
                for (position, hash) in hashes.enumerated() {
                    try await connection.query(
                        """
                        INSERT INTO ledger_block_entries (tenant_id, block_number, position, log_index, tx_hash)
                        VALUES (\(tenantID), \(header.number), \(Int32(position)), \(Int64(first + position)), \(ByteBuffer(bytes: hash.bytes)))
                        """, logger: testLogger)
                }
                headers.append(header)
                first += block.count
            }
            // Checkpoint 0 again, on the rewritten block it named, signed by HQ's custodial key.
            let old = kept.checkpoint
            let forged = LedgerCheckpoint(after: nil, at: old.at, period: old.period, header: headers[Int(old.lastBlock)], signers: old.signers)
            let signed = try await keys.sign(forged.canonicalBytes, as: .org(try OrgCode("HQ")), masterKey: masterKey)
            try await connection.query(
                """
                INSERT INTO ledger_checkpoints (tenant_id, number, period, at, last_block, last_block_hash, log_size, previous_log_size,
                    signer_org_ids, canonical, consistency_proof)
                SELECT \(tenantID), 0, \(old.period.description), timestamptz 'epoch' + \(old.at.microsecondsSinceEpoch) * interval '1 microsecond',
                    \(old.lastBlock), \(ByteBuffer(bytes: forged.lastBlockHash.bytes)), \(forged.logSize), 0,
                    array_agg(o.org_id ORDER BY o.org_id), \(ByteBuffer(bytes: forged.canonicalBytes)), ''::bytea
                FROM orgs o WHERE o.tenant_id = \(tenantID) AND o.code = ANY(\(old.signers.map(\.rawValue))::text[])
                """, logger: testLogger)
            try await connection.query(
                """
                INSERT INTO ledger_checkpoint_signatures (tenant_id, checkpoint_number, org_id, org_code, key_version, signature, principal_id)
                SELECT \(tenantID), 0, o.org_id, o.code, \(signed.version), \(ByteBuffer(bytes: signed.signature.derRepresentation)), p.principal_id
                FROM orgs o JOIN principals p ON p.tenant_id = o.tenant_id AND p.name = 'hq-admin'
                WHERE o.tenant_id = \(tenantID) AND o.code = 'HQ'
                """, logger: testLogger)
        }

        // What the server holds verifies: every transaction, endorsement, block and checkpoint
        // signature (the re-cut checkpoint is merely incomplete).
        let online = try await scenario.verify()
        #expect(online.report.isClean, "\(online.report.failures)")

        // What WH-B kept does not.
        #expect(try consistency("rewritten.json").status == 0)
        let detected = try verify("rewritten.json")
        #expect(detected.status == 1, "\(detected.text) \(detected.standardError)")
        #expect(
            detected.standardError.contains("block \(kept.checkpoint.lastBlock) is not the block checkpoint 0 signed"), "\(detected.standardError)")
        #expect(detected.standardError.contains("no consistency from the root checkpoint 0 signed"), "\(detected.standardError)")

        // Input that is no checkpoint or no proof is refused as such.
        try Data("{}".utf8).write(to: URL(fileURLWithPath: folder + "/nothing.json"))
        let unusable = try Self.run(["ledger", "verify-consistency", "--checkpoint", folder + "/nothing.json", "--proof", folder + "/honest.json"])
        #expect(unusable.status == 2 && unusable.standardError.contains("holds no checkpoint"), "\(unusable.standardError)")
        let wrongSize = try Self.run(
            ["ledger", "consistency", "--tenant", tenant, "--from", "2", "--out", folder + "/two.json", "--database-url", environment.appURLText],
            key: integration)
        #expect(wrongSize.status == 2 && wrongSize.standardError.contains("No block states a log of 2"), "\(wrongSize.standardError)")
    }
}

extension LedgerCheckpointCommandTests {
    /// One transfer checked years later with no server: its proof leads to the root every org
    /// with a key signed in a checkpoint of the exported bundle.
    @Test func aTransfersProofVerifiesOfflineAgainstACheckpointSignedByEveryOrg() async throws {
        let scenario = try await LedgerScenario.make(label: "proof-checkpoint")
        let complete = try await scenario.checkpointSignedByEveryOrg()
        #expect(complete.unsigned.isEmpty)
        try await scenario.commitPendingReceipt()
        let incomplete = try await scenario.checkpoint(approving: ["hq-admin"], clientSigns: false)
        let environment = try await SharedDatabase.environment()
        let root = FileManager.default.temporaryDirectory.appendingPathComponent("proof-checkpoint-\(UUID().uuidString)").path
        defer { try? FileManager.default.removeItem(atPath: root) }
        let tenant = scenario.fixture.code.rawValue
        let auditor = scenario.fixture.key("hq-auditor")
        #expect(try Self.run(["ledger", "export", "--tenant", tenant, "--out", root + "/bundle", "--database-url", environment.appURLText], key: auditor).status == 0)

        let dispatch = scenario.hash(scenario.claimed, .transferDispatched).hex
        func prove(treeSize: Int64) throws -> ProcessOutput {
            try Self.run(
                [
                    "ledger", "prove", "--tenant", tenant, "--tx", dispatch, "--tree-size", String(treeSize), "--tx-out", root + "/tx.json",
                    "--out", root + "/proof-\(treeSize).json", "--database-url", environment.appURLText,
                ], key: auditor)
        }
        func verify(treeSize: Int64, checkpoint: Int64) throws -> ProcessOutput {
            try Self.run([
                "ledger", "verify-proof", "--tx", root + "/tx.json", "--proof", root + "/proof-\(treeSize).json", "--checkpoint",
                root + "/bundle/checkpoints/000000000\(checkpoint)", "--keys", root + "/bundle/keys",
            ])
        }
        let size = complete.checkpoint.logSize
        #expect(try prove(treeSize: size).status == 0)
        let ok = try verify(treeSize: size, checkpoint: 0)
        #expect(ok.status == 0 && ok.text.contains("checkpoint 0 (on-demand) signs that root, by all 6 orgs with a key"), "\(ok.text) \(ok.standardError)")

        // Against a checkpoint of another size, one not every org signed, or one a signature of which was changed: no.
        let otherSize = try verify(treeSize: size, checkpoint: 1)
        #expect(otherSize.status == 1 && otherSize.standardError.contains("prove with --tree-size \(size + 1)"), "\(otherSize.standardError)")
        #expect(try prove(treeSize: size + 1).status == 0)
        let unsigned = try verify(treeSize: size + 1, checkpoint: 1)
        #expect(incomplete.unsigned.count == 5)
        #expect(unsigned.status == 1 && unsigned.standardError.contains("not signed by every org"), "\(unsigned.standardError)")
        let signature = root + "/bundle/checkpoints/0000000000/WH-B.v1.sig.der"
        let good = try Data(contentsOf: URL(fileURLWithPath: signature))
        try Data(contentsOf: URL(fileURLWithPath: root + "/bundle/checkpoints/0000000000/HQ.v1.sig.der")).write(to: URL(fileURLWithPath: signature))
        let forged = try verify(treeSize: size, checkpoint: 0)
        #expect(forged.status == 1 && forged.standardError.contains("signatures[WH-B]"), "\(forged.standardError)")
        try good.write(to: URL(fileURLWithPath: signature))
        #expect(try verify(treeSize: size, checkpoint: 0).status == 0)
        // WH-B pins its own key: its signature verifies with it; another org's key as WH-B's does not.
        let own = root + "/wh-b.pub.pem"
        try Data(scenario.clientKey.publicKey.pemRepresentation.utf8).write(to: URL(fileURLWithPath: own))
        let other = root + "/other.pub.pem"
        try Data(SM2PrivateKey.generate().publicKey.pemRepresentation.utf8).write(to: URL(fileURLWithPath: other))
        let base = [
            "ledger", "verify-proof", "--tx", root + "/tx.json", "--proof", root + "/proof-\(size).json", "--checkpoint",
            root + "/bundle/checkpoints/0000000000", "--keys", root + "/bundle/keys", "--org-key",
        ]
        let pinned = try Self.run(base + ["WH-B=" + own])
        #expect(pinned.status == 0 && pinned.text.contains("WH-B's with its own key"), "\(pinned.text) \(pinned.standardError)")
        let impostor = try Self.run(base + ["WH-B=" + other])
        #expect(impostor.status == 1 && impostor.standardError.contains("does not verify with WH-B's own key"), "\(impostor.standardError)")
        let malformed = try Self.run(base + ["WH-B"])
        #expect(malformed.status == 2 && malformed.standardError.contains("expected ORG=PEM-FILE"), "\(malformed.standardError)")
        // --checkpoint without --keys is a usage error.
        let usage = try Self.run(["ledger", "verify-proof", "--tx", root + "/tx.json", "--proof", root + "/proof-\(size).json", "--checkpoint", root])
        #expect(usage.status == 2 && usage.standardError.contains("--checkpoint and --keys go together"), "\(usage.status) \(usage.standardError)")
    }
}
