import OrgMatrixCore
import SMCrypto
import Testing

/// Private values (docs/LEDGER.md, "Private fields"): the commitment is SM3(salt ‖ canonical JSON
/// of the value), the transaction carries commitments under `private` (and no member when there
/// are none), and the verifier names every value that is not what its transaction committed to.
@Suite struct LedgerPrivateFieldTests {
    static let salt: [UInt8] = Array(0..<16)
    static let at = UTCMicros("2026-12-03T08:00:00.000000Z")!

    static func dispatch(_ commitments: [LedgerPrivateField: LedgerHash]) throws -> LedgerTransaction {
        LedgerTransaction(
            type: .transferDispatched, tenant: try TenantCode("dairy"), at: at, endorsers: [.sender: try OrgCode("WH-A")],
            policy: try EndorsementPolicy.parse("sender"), body: .object(["transfer_id": .integer(1)]), privateCommitments: commitments)
    }

    @Test func theCommitmentIsTheSM3OfTheSaltAndTheCanonicalValue() throws {
        let price = try LedgerPrivateValue(field: .carrierContractPriceFen, value: .integer(180_000), salt: Self.salt)
        #expect(price.preimage == Self.salt + Array("180000".utf8))
        #expect(price.commitment.bytes == SM3.hash(Self.salt + Array("180000".utf8)))
        let name = try LedgerPrivateValue(field: .carrierName, value: .string("顺丰\"速运\""), salt: Self.salt)
        #expect(name.preimage == Self.salt + Array(#""顺丰\"速运\"""#.utf8))
        #expect(try LedgerPrivateValue(field: .carrierName, preimage: name.preimage) == name)
        // Another salt, another commitment: the salt is what keeps a price from being guessed.
        let resalted = try LedgerPrivateValue(field: .carrierContractPriceFen, value: .integer(180_000), salt: Array(repeating: 7, count: 16))
        #expect(resalted.commitment != price.commitment)
    }

    @Test func aValueOutsideItsFieldIsRefusedNamingIt() {
        let cases: [(LedgerPrivateField, JSONValue, String)] = [
            (.carrierContractPriceFen, .integer(-1), "must be 0–1000000000000000 fen"),
            (.carrierContractPriceFen, .integer(Bounds.amountFenMax + 1), "must be 0–1000000000000000 fen"),
            (.carrierContractPriceFen, .string("180000"), "must be an integer (fen)"),
            (.carrierName, .string(""), "must be 1–200 characters"),
            (.carrierName, .string(String(repeating: "运", count: 201)), "must be 1–200 characters"),
            (.carrierName, .string("SF\u{7}"), "must not contain control characters"),
            (.carrierName, .integer(1), "must be a string"),
        ]
        for (field, value, reason) in cases {
            #expect(throws: LedgerDocumentError.malformed(field: "private.\(field.rawValue)", reason: reason)) {
                try LedgerPrivateValue(field: field, value: value, salt: Self.salt)
            }
        }
        #expect(throws: LedgerDocumentError.malformed(field: "salt", reason: "must be 16 bytes")) {
            try LedgerPrivateValue(field: .carrierName, value: .string("SF"), salt: [1, 2, 3])
        }
    }

    @Test func commitmentsTravelUnderPrivateAndReadBack() throws {
        let price = try LedgerPrivateValue(field: .carrierContractPriceFen, value: .integer(180_000), salt: Self.salt)
        let transaction = try Self.dispatch([.carrierContractPriceFen: price.commitment])
        let text = String(decoding: transaction.canonicalBytes, as: UTF8.self)
        #expect(text.contains(#""private":{"carrier_contract_price_fen":"\#(price.commitment.hex)"}"#), "\(text)")
        #expect(!text.contains("180000"))
        #expect(try LedgerTransaction(canonicalBytes: transaction.canonicalBytes) == transaction)
        // None: no member at all, so a transaction is what it was before private fields.
        #expect(!String(decoding: try Self.dispatch([:]).canonicalBytes, as: UTF8.self).contains("private"))
    }

    @Test func aMalformedPrivateMemberIsRefusedNamingIt() throws {
        let good = try Self.dispatch([.carrierName: .of([1])])
        let text = String(decoding: good.canonicalBytes, as: UTF8.self)
        let hex = LedgerHash.of([1]).hex
        let cases: [(String, String)] = [
            (#""private":{}"#, "private"),
            (#""private":{"tip_fen":"\#(hex)"}"#, "private.tip_fen"),
            (#""private":{"carrier_name":"ABC"}"#, "private.carrier_name"),
            (#""private":{"carrier_name":7}"#, "private.carrier_name"),
        ]
        for (member, field) in cases {
            let bytes = Array(text.replacingOccurrences(of: #""private":{"carrier_name":"\#(hex)"}"#, with: member).utf8)
            #expect {
                try LedgerTransaction(canonicalBytes: bytes)
            } throws: { error in
                guard case .malformed(let named, _) = error as? LedgerDocumentError else { return false }
                return named == field
            }
        }
        // A field only the dispatch carries, on another type.
        let key = text.replacingOccurrences(of: "transfer.dispatched", with: "key.registered")
        #expect {
            try LedgerTransaction(canonicalBytes: Array(key.utf8))
        } throws: { error in
            (error as? LedgerDocumentError) == .malformed(field: "private.carrier_name", reason: "is not a private field of key.registered")
        }
    }

    @Test func theVerifierNamesAValueThatIsNotWhatWasCommitted() throws {
        let price = try LedgerPrivateValue(field: .carrierContractPriceFen, value: .integer(180_000), salt: Self.salt)
        let transaction = try Self.dispatch([.carrierContractPriceFen: price.commitment])
        let hash = transaction.hash
        #expect(LedgerPrivateValue.failures(transaction, hash: hash, preimages: [.carrierContractPriceFen: price.preimage]).isEmpty)
        #expect(LedgerPrivateValue.failures(transaction, hash: hash, preimages: [:]).isEmpty)

        var cheaper = price.preimage
        cheaper[16] = UInt8(ascii: "2")
        let changed = LedgerPrivateValue.failures(transaction, hash: hash, preimages: [.carrierContractPriceFen: cheaper])
        #expect(changed.map(\.kind) == [.privateValueMismatch] && changed.first?.found == LedgerHash.of(cheaper).hex)
        #expect(changed.first.map(LedgerBundle.file(of:)) == LedgerBundle.privateValueFile(hash, field: .carrierContractPriceFen))

        let uncommitted = LedgerPrivateValue.failures(transaction, hash: hash, preimages: [.carrierName: Self.salt + Array(#""SF""#.utf8)])
        #expect(uncommitted.map(\.kind) == [.privateValueMismatch] && uncommitted.first?.field == "private.carrier_name")

        // A commitment to bytes that are no value of the field: named as malformed, not as a match.
        for preimage in [Self.salt, Self.salt + Array(" 180000".utf8), Self.salt + Array(#""180000""#.utf8)] {
            let odd = try Self.dispatch([.carrierContractPriceFen: .of(preimage)])
            let found = LedgerPrivateValue.failures(odd, hash: odd.hash, preimages: [.carrierContractPriceFen: preimage])
            #expect(found.map(\.kind) == [.privateValueMalformed], "\(preimage)")
        }
    }
}
