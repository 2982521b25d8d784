import Foundation
import Hummingbird
import OrgMatrixCore
import OrgMatrixStore
import SMCrypto

/// A client-held org's signature over a transaction's or a checkpoint's canonical bytes.
struct NewEndorsement: JSONBody {
    let org: String
    let keyVersion: Int32
    /// DER (`SEQUENCE { r, s }`) in base64, as `openssl dgst -sm3 -sign` writes it.
    let signature: String

    static let keys = BodyKeys.object(["org": .value, "keyVersion": .value, "signature": .value])

    func checkForm() throws {
        try Form.orgCode(org, "org")
        try Form.integer(Int64(keyVersion), "keyVersion", 1...Int64(Int32.max))
        try Form.text(signature, "signature", length: 4...200)
        try Form.require(
            signature.wholeMatch(of: /(?:[A-Za-z0-9+\/]{4})+(?:[A-Za-z0-9+\/]{2}==|[A-Za-z0-9+\/]{3}=)?/) != nil, "signature",
            "must be base64 (RFC 4648, padded)")
    }
}

struct NewDispute: JSONBody {
    let reason: String

    static let keys = BodyKeys.object(["reason": .value])

    func checkForm() throws {
        try Form.text(reason, "reason", length: 1...2000)
        // As the document's pattern `\S` reads it: some character outside ECMAScript's white space.
        let blank: Set<UInt32> = [0x09, 0x0A, 0x0B, 0x0C, 0x0D, 0x20, 0xA0, 0x1680, 0x2028, 0x2029, 0x202F, 0x205F, 0x3000, 0xFEFF]
        try Form.require(
            reason.unicodeScalars.contains { !blank.contains($0.value) && !(0x2000...0x200A).contains($0.value) }, "reason", "must say why")
    }
}

/// A transaction's private values, opened for its parties and HQ: each value with the salt that
/// makes SM3(salt ‖ canonical JSON of the value) its transaction's `private.<field>`.
struct LedgerPrivateValuesView: Encodable, ResponseEncodable, Sendable {
    struct Value: Encodable, Sendable {
        let field: String
        /// A string or an integer, as the field's kind is.
        let value: Scalar
        /// The 16 secret bytes, in hex.
        let salt: String
        let commitment: String
    }

    enum Scalar: Encodable, Sendable {
        case text(String)
        case integer(Int64)

        func encode(to encoder: any Encoder) throws {
            var container = encoder.singleValueContainer()
            switch self {
            case .text(let text): try container.encode(text)
            case .integer(let number): try container.encode(number)
            }
        }
    }

    let transaction: String
    let type: String
    let values: [Value]

    init(_ found: (record: LedgerTransactionRecord, values: [LedgerPrivateValue])) {
        (transaction, type) = (found.record.hash.hex, found.record.transaction.type.rawValue)
        values = found.values.map { value in
            let scalar: Scalar =
                switch value.value {
                case .integer(let number): .integer(number)
                case .string(let text): .text(text)
                default: .text(String(decoding: CanonicalJSON.encode(value.value), as: UTF8.self))
                }
            return Value(field: value.field.rawValue, value: scalar, salt: Hex.encode(value.salt), commitment: value.commitment.hex)
        }
    }
}

/// A ledger transaction: its canonical bytes (exactly what endorsers sign), status and endorsements.
struct LedgerTransactionView: Encodable, ResponseEncodable, Sendable {
    struct Endorsement: Encodable, Sendable {
        let org: String
        let keyVersion: Int32
        let signature: String
        let endorsedAt: Date
    }

    struct Dispute: Encodable, Sendable {
        let org: String
        let reason: String
    }

    let hash: String
    let type: String
    let at: String
    let status: String
    /// The canonical JSON document as text: its UTF-8 bytes are what SM3 hashes and SM2 signs.
    let canonical: String
    let transferId: Int64?
    let endorsers: [String: String]
    let policy: String
    /// Roles the policy names whose org has not endorsed.
    let awaiting: [String: String]
    let endorsements: [Endorsement]
    let dispute: Dispute?
    let block: Int64?

    init(_ record: LedgerTransactionRecord) {
        hash = record.hash.hex
        type = record.transaction.type.rawValue
        at = record.transaction.at.description
        status = record.status.name
        canonical = String(decoding: record.canonicalBytes, as: UTF8.self)
        transferId = record.transferID
        endorsers = Dictionary(uniqueKeysWithValues: record.transaction.endorsers.map { ($0.key.rawValue, $0.value.rawValue) })
        policy = record.transaction.policy.description
        awaiting = Dictionary(uniqueKeysWithValues: record.awaiting.map { ($0.key.rawValue, $0.value.rawValue) })
        endorsements = record.endorsements.map {
            Endorsement(org: $0.org.rawValue, keyVersion: $0.keyVersion, signature: Data($0.signature).base64EncodedString(), endorsedAt: $0.endorsedAt)
        }
        if case .disputed(let org, let reason) = record.status { dispute = Dispute(org: org.rawValue, reason: reason) } else { dispute = nil }
        block = record.blockNumber
    }
}

/// A sealed block: its canonical header as text (what the orderer signed and SM3 hashes), the
/// header's fields, the orderer's DER signature in base64, and on `GET …/blocks/{n}` the hashes
/// it seals in order.
struct LedgerBlockView: Encodable, ResponseEncodable, Sendable {
    let number: Int64
    let hash: String
    let previousHash: String
    let dataHash: String
    let txCount: Int64
    let logSize: Int64
    let logRoot: String
    let sealedAt: String
    let header: String
    let ordererKeyVersion: Int32
    let signature: String
    let transactions: [String]?

    init(_ record: LedgerBlockRecord) {
        let header = record.header
        (number, hash, previousHash, dataHash) = (header.number, record.blockHash.hex, header.previousHash.hex, header.dataHash.hex)
        (txCount, logSize, logRoot, sealedAt) = (header.transactionCount, header.logSize, header.logRoot.hex, header.sealedAt.description)
        self.header = String(decoding: record.headerBytes, as: UTF8.self)
        ordererKeyVersion = record.ordererKeyVersion
        signature = Data(record.signatureDER).base64EncodedString()
        transactions = record.transactions?.map(\.hex)
    }
}

/// An inclusion proof (RFC 9162 §2.1.3.2 with SM3) and the block whose signed header holds the root.
public struct LedgerInclusionProofView: Encodable, ResponseEncodable, Sendable {
    let transaction: String
    let leafIndex: Int64
    let treeSize: Int64
    let path: [String]
    let block: LedgerBlockView

    public init(_ proof: LedgerInclusionProof) {
        (transaction, leafIndex, treeSize) = (proof.transaction.hex, proof.leafIndex, proof.treeSize)
        path = proof.path.map(\.hex)
        block = LedgerBlockView(proof.block)
    }
}

/// A consistency proof (RFC 9162 §2.1.4.2 with SM3) between the logs two blocks' headers state.
public struct LedgerConsistencyProofView: Encodable, ResponseEncodable, Sendable {
    let fromSize: Int64
    let toSize: Int64
    let path: [String]
    let from: LedgerBlockView
    let to: LedgerBlockView

    public init(_ proof: LedgerConsistencyProof) {
        (fromSize, toSize, path) = (proof.from.header.logSize, proof.to.header.logSize, proof.path.map(\.hex))
        (from, to) = (LedgerBlockView(proof.from), LedgerBlockView(proof.to))
    }
}

/// A checkpoint: its canonical document as text (exactly what each signer signs), its fields,
/// who has signed and who has not, and the consistency proof from the previous checkpoint's log.
struct LedgerCheckpointView: Encodable, ResponseEncodable, Sendable {
    let number: Int64
    let period: String
    let at: String
    let logSize: Int64
    let logRoot: String
    let lastBlock: Int64
    let lastBlockHash: String
    let previousLogSize: Int64
    let signers: [String]
    let canonical: String
    let signatures: [LedgerTransactionView.Endorsement]
    /// Signers that have not signed yet; the checkpoint is complete when none are left.
    let unsigned: [String]
    let complete: Bool
    /// RFC 9162 §2.1.4.2 (SM3) from `previousLogSize` to `logSize`; empty from 0 or between equal sizes.
    let consistencyProof: [String]

    init(_ record: LedgerCheckpointRecord) {
        let checkpoint = record.checkpoint
        (number, period, at, logSize) = (checkpoint.number, checkpoint.period.description, checkpoint.at.description, checkpoint.logSize)
        (logRoot, lastBlock, lastBlockHash) = (checkpoint.logRoot.hex, checkpoint.lastBlock, checkpoint.lastBlockHash.hex)
        (previousLogSize, signers) = (checkpoint.previousLogSize, checkpoint.signers.map(\.rawValue))
        canonical = String(decoding: record.canonicalBytes, as: UTF8.self)
        signatures = record.signatures.map {
            .init(org: $0.org.rawValue, keyVersion: $0.keyVersion, signature: Data($0.signature).base64EncodedString(), endorsedAt: $0.endorsedAt)
        }
        unsigned = record.unsigned.map(\.rawValue)
        complete = unsigned.isEmpty
        consistencyProof = record.consistencyProof.map(\.hex)
    }
}
