import OrgMatrixCore
import SMCrypto
import Testing

@Suite struct EndorsementPolicyTests {
    @Test func textParsesToTheTreeItNames() throws {
        let policy = try EndorsementPolicy.parse("AND(receiver, OutOf(2, sender, hq,carrier) , OR(sender_settlement))")
        #expect(policy == .all([.role(.receiver), .outOf(2, [.role(.sender), .role(.hq), .role(.carrier)]), .any([.role(.senderSettlement)])]))
        #expect(policy.description == "AND(receiver, OutOf(2, sender, hq, carrier), OR(sender_settlement))")
        #expect(try EndorsementPolicy.parse(policy.description) == policy)
        #expect(policy.roles == [.receiver, .sender, .hq, .carrier, .senderSettlement])
    }

    @Test func satisfactionFollowsTheOperators() throws {
        let policy = try EndorsementPolicy.parse("AND(receiver, OutOf(2, sender, hq, carrier))")
        #expect(!policy.isSatisfied(by: []))
        #expect(!policy.isSatisfied(by: [.receiver, .sender]))
        #expect(policy.isSatisfied(by: [.receiver, .sender, .carrier]))
        #expect(policy.isSatisfied(by: [.receiver, .hq, .carrier]))
        #expect(!policy.isSatisfied(by: [.sender, .hq, .carrier]))
        #expect(try EndorsementPolicy.parse("OR(hq, sender)").isSatisfied(by: [.sender]))
        #expect(try EndorsementPolicy.parse("hq").isSatisfied(by: [.hq]))
    }

    @Test func badTextIsRefusedWithWhereAndWhy() {
        let cases: [(String, Int, String)] = [
            ("", 0, "a role, AND(…), OR(…) or OutOf(n, …) was expected"),
            ("AND(receiver, shipper)", 14, "shipper is not a role"),
            ("AND(receiver", 12, "a closing parenthesis was expected"),
            ("AND()", 4, "a role, AND(…), OR(…) or OutOf(n, …) was expected"),
            ("OutOf(3, sender, receiver)", 6, "OutOf(3, …) names only 2 part(s)"),
            ("OutOf(0, sender)", 6, "OutOf needs a count first"),
            ("OutOf(sender)", 6, "OutOf needs a count first"),
            ("XOR(sender)", 0, "XOR(…) is not an operator"),
            ("sender receiver", 7, "text after the policy"),
            ("AND(hq,)", 7, "a role, AND(…), OR(…) or OutOf(n, …) was expected"),
        ]
        for (text, offset, reason) in cases {
            #expect {
                try EndorsementPolicy.parse(text)
            } throws: { error in
                guard case .syntax(let found, let why) = error as? EndorsementPolicyError else { return false }
                return found == offset && why.hasPrefix(reason)
            }
        }
        let deep = String(repeating: "AND(", count: 9) + "hq" + String(repeating: ")", count: 9)
        #expect(throws: EndorsementPolicyError.self) { try EndorsementPolicy.parse(deep) }
    }

    @Test func jsonFormRoundTripsAndNamesItsErrors() throws {
        let policy = try EndorsementPolicy.parse("AND(receiver, OutOf(1, sender, hq))")
        #expect(String(decoding: CanonicalJSON.encode(policy.json), as: UTF8.self) == #"{"AND":["receiver",{"OutOf":{"n":1,"of":["sender","hq"]}}]}"#)
        #expect(try EndorsementPolicy(json: policy.json) == policy)
        let bad: [(JSONValue, String)] = [
            (.string("boss"), "policy: boss is not a role"),
            (.object(["AND": .array([])]), "policy.AND: needs at least one part"),
            (.object(["OutOf": .object(["n": .integer(3), "of": .array([.string("hq")])])]), "policy.OutOf.n: must be 1–1"),
            (.object(["AND": .array([.integer(1)])]), "policy.AND[0]: must be a role"),
            (.object(["AND": .array([.string("hq")]), "OR": .array([.string("hq")])]), "policy: must be a role"),
        ]
        for (json, message) in bad {
            #expect {
                try EndorsementPolicy(json: json)
            } throws: { error in
                (error as? EndorsementPolicyError)?.description.hasPrefix(message) == true
            }
        }
    }
}

@Suite struct LedgerDocumentTests {
    private func transaction() throws -> LedgerTransaction {
        LedgerTransaction(
            type: .transferReceived, tenant: try TenantCode("dairy"), at: UTCMicros("2026-12-02T03:19:37.000120Z")!,
            endorsers: [.receiver: try OrgCode("SJZ-FW"), .sender: try OrgCode("BJ-CW")],
            policy: try EndorsementPolicy.parse("AND(receiver, sender)"),
            body: .object(["transfer": .integer(7), "actual_freight_fen": .integer(12_345), "note": .string("冷链 ✓")]))
    }

    @Test func microsecondTimesHaveOneText() {
        for text in ["1970-01-01T00:00:00.000000Z", "2026-12-02T03:19:37.000120Z", "2024-02-29T23:59:59.999999Z", "9999-12-31T23:59:59.999999Z"] {
            #expect(UTCMicros(text)?.description == text)
        }
        #expect(UTCMicros("2026-12-02T03:19:37.000120Z")!.microsecondsSinceEpoch == 1_796_181_577_000_120)
        for text in ["2026-12-02T03:19:37Z", "2026-12-02T03:19:37.12Z", "2026-02-30T00:00:00.000000Z", "2026-12-02T03:19:37.000120+00:00"] {
            #expect(UTCMicros(text) == nil)
        }
    }

    @Test func aTransactionIsItsCanonicalBytesAndTheirSM3() throws {
        let tx = try transaction()
        let text = String(decoding: tx.canonicalBytes, as: UTF8.self)
        #expect(text == #"{"at":"2026-12-02T03:19:37.000120Z","body":{"actual_freight_fen":12345,"note":"冷链 ✓","transfer":7},"#
            + #""endorsers":{"receiver":"SJZ-FW","sender":"BJ-CW"},"policy":{"AND":["receiver","sender"]},"tenant":"dairy","#
            + #""type":"transfer.received","version":1}"#)
        #expect(tx.hash.bytes == SM3.hash(tx.canonicalBytes))
        #expect(try LedgerTransaction(canonicalBytes: tx.canonicalBytes) == tx)
        #expect(tx.isCommitted(byEndorsementsOf: [try OrgCode("SJZ-FW"), try OrgCode("BJ-CW")]))
        #expect(!tx.isCommitted(byEndorsementsOf: [try OrgCode("SJZ-FW"), try OrgCode("HQ")]))
        #expect(tx.role(of: try OrgCode("BJ-CW")) == [.sender])
    }

    @Test func anythingButTheCanonicalDocumentIsRefusedByField() throws {
        let canonical = String(decoding: try transaction().canonicalBytes, as: UTF8.self)
        let cases: [(String, String)] = [
            (canonical.replacingOccurrences(of: ",", with: ", "), "not canonical JSON"),
            (canonical.replacingOccurrences(of: "\"version\":1", with: "\"version\":2"), "version: must be 1"),
            (canonical.replacingOccurrences(of: "transfer.received", with: "transfer.lost"), "type: transfer.lost is not a known type"),
            (canonical.replacingOccurrences(of: ".000120Z", with: "Z"), "at: must be UTC time"),
            (canonical.replacingOccurrences(of: "\"receiver\":\"SJZ-FW\"", with: "\"boss\":\"SJZ-FW\""), "endorsers.boss: is not a role"),
            (canonical.replacingOccurrences(of: "\"tenant\":\"dairy\",", with: ""), "tenant: missing"),
            (canonical.replacingOccurrences(of: "\"policy\":{\"AND\":[\"receiver\",\"sender\"]}", with: "\"policy\":{\"AND\":[\"receiver\",\"boss\"]}"),
             "policy.AND[1]: boss is not a role"),
            (canonical.replacingOccurrences(of: "12345", with: "12345.0"), "not canonical JSON"),
        ]
        for (text, message) in cases {
            #expect {
                try LedgerTransaction(canonicalBytes: Array(text.utf8))
            } throws: { error in
                (error as? LedgerDocumentError)?.description.hasPrefix(message) == true
            }
        }
        #expect(throws: LedgerDocumentError.self) {
            try LedgerTransaction(canonicalBytes: Array(canonical.dropLast().utf8) + Array(",\"extra\":1}".utf8))
        }
    }

    /// The frontier gives the same tree hash as the whole tree at every size, with both hashes.
    @Test func theFrontierAgreesWithTheWholeTree() {
        for kind in [MerkleHashing.Kind.sha256, .sm3] {
            let hasher = kind.hashing
            var frontier = MerkleFrontier(kind)
            var leaves: [[UInt8]] = []
            #expect(frontier.rootHash == hasher.rootHash([]))
            for index in 0..<70 {
                let leaf = hasher.leafHash(Array("leaf \(index)".utf8))
                leaves.append(leaf)
                frontier.append(leafHash: leaf)
                #expect(frontier.rootHash == hasher.rootHash(leaves), "size \(index + 1)")
                #expect(frontier.size == leaves.count)
                #expect(frontier.subtrees.count == (index + 1).nonzeroBitCount)
            }
        }
    }

    @Test func blocksChainAndCarryTheWholeLog() throws {
        let tenant = try TenantCode("dairy")
        let hashes = (0..<7).map { LedgerHash.of(Array("tx \($0)".utf8)) }
        var log = MerkleFrontier()
        let first = try BlockHeader.seal(tenant: tenant, after: nil, transactions: Array(hashes[0..<3]), log: &log, sealedAt: UTCMicros(microsecondsSinceEpoch: 1))
        let second = try BlockHeader.seal(tenant: tenant, after: first, transactions: Array(hashes[3...]), log: &log, sealedAt: UTCMicros(microsecondsSinceEpoch: 2))
        let sm3 = MerkleHashing.sm3
        #expect(first.number == 0 && first.previousHash == .zero && first.transactionCount == 3 && first.logSize == 3)
        #expect(first.dataHash.bytes == sm3.rootHash(hashes[0..<3].map { sm3.leafHash($0.bytes) }))
        #expect(first.logRoot == first.dataHash)
        #expect(second.number == 1 && second.previousHash == first.hash && second.transactionCount == 4 && second.logSize == 7)
        #expect(second.dataHash.bytes == sm3.rootHash(hashes[3...].map { sm3.leafHash($0.bytes) }))
        #expect(second.logRoot.bytes == sm3.rootHash(hashes.map { sm3.leafHash($0.bytes) }))
        #expect(second.hash.bytes == SM3.hash(second.canonicalBytes))
        #expect(try BlockHeader(canonicalBytes: second.canonicalBytes) == second)
        let text = String(decoding: first.canonicalBytes, as: UTF8.self)
        #expect(text.hasPrefix(#"{"data_hash":""#) && text.contains(#""prev_hash":"0000000000000000000000000000000000000000000000000000000000000000""#))
        #expect(text.hasSuffix(#""sealed_at":"1970-01-01T00:00:00.000001Z","tenant":"dairy","tx_count":3,"version":1}"#))
        #expect {
            try BlockHeader(canonicalBytes: Array(text.replacingOccurrences(of: "\"tx_count\":3", with: "\"tx_count\":-3").utf8))
        } throws: { ($0 as? LedgerDocumentError)?.description == "tx_count: must not be negative" }
    }
}
