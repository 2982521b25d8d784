import Foundation
import Hummingbird
import OrgMatrixCore
import OrgMatrixStore

/// A client-held org's signature over a transaction's canonical bytes.
struct NewEndorsement: JSONBody {
    let org: String
    let keyVersion: Int32
    /// DER (`SEQUENCE { r, s }`) in base64, as `openssl dgst -sm3 -sign` writes it.
    let signature: String

    static let keys = BodyKeys.object(["org": .value, "keyVersion": .value, "signature": .value])

    func checkForm() throws {
        try Form.orgCode(org, "org")
        try Form.integer(Int64(keyVersion), "keyVersion", 1...Int64(Int32.max))
        try Form.text(signature, "signature", length: 1...200)
    }
}

struct NewDispute: JSONBody {
    let reason: String

    static let keys = BodyKeys.object(["reason": .value])

    func checkForm() throws {
        try Form.text(reason, "reason", length: 1...2000)
        try Form.require(!reason.allSatisfy(\.isWhitespace), "reason", "must say why")
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
