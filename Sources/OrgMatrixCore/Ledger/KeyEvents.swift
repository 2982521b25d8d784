import Foundation
import SMCrypto

/// The two ledger events of a key's life (docs/LEDGER.md, "Key events"): what the Store writes
/// when it stores a key row or a revocation, and what the verifier matches against those rows.
/// One builder and one reader each, so the bytes the Store signs are the bytes the verifier reads.
public enum KeyEvent {
    /// `key.registered`: a key version as its row holds it.
    public struct Registered: Sendable, Hashable {
        public static let ledgerType = LedgerTransactionType.keyRegistered

        public let owner: KeyOwner
        /// 1, 2, … per owner.
        public let version: Int64
        public let custody: KeyCustody
        /// SubjectPublicKeyInfo DER (RFC 5480, sm2p256v1), the bytes the key row stores.
        public let publicKeyDER: [UInt8]
        public let validFrom: UTCMicros

        public init(owner: KeyOwner, version: Int64, custody: KeyCustody, publicKeyDER: [UInt8], validFrom: UTCMicros) {
            (self.owner, self.version, self.custody, self.publicKeyDER, self.validFrom) = (
                owner, version, custody, publicKeyDER, validFrom
            )
        }

        private static let keys: Set<String> = ["org", "key_version", "custody", "public_key", "valid_from"]

        /// `{"custody":…,"key_version":…,"org":…,"public_key":<base64 SPKI DER>,"valid_from":…}`.
        public var ledgerBody: JSONValue {
            .object([
                "org": .string(owner.name),
                "key_version": .integer(version),
                "custody": .string(custody.rawValue),
                "public_key": .string(Data(publicKeyDER).base64EncodedString()),
                "valid_from": .string(validFrom.description),
            ])
        }

        /// The registration `body` states: every key present, none other; the public key an SM2
        /// SubjectPublicKeyInfo in canonical base64 (RFC 4648 §4, padded, no line breaks).
        public init(ledgerBody body: JSONValue) throws(LedgerDocumentError) {
            let fields = try LedgerFields(body, expected: Self.keys, path: "body")
            let custodyName = try fields.string("custody")
            guard let custody = KeyCustody(rawValue: custodyName) else {
                throw .malformed(field: "body.custody", reason: "must be custodial or client, not \(custodyName)")
            }
            let text = try fields.string("public_key")
            guard let der = Data(base64Encoded: text).map({ [UInt8]($0) }), Data(der).base64EncodedString() == text else {
                throw .malformed(field: "body.public_key", reason: "must be base64 (RFC 4648, padded, no line breaks)")
            }
            do { _ = try SM2PublicKey(derRepresentation: der) } catch {
                throw .malformed(
                    field: "body.public_key", reason: "must be an SM2 public key (SubjectPublicKeyInfo DER): \(error)")
            }
            self.init(
                owner: try KeyEvent.owner(fields), version: try KeyEvent.version(fields), custody: custody, publicKeyDER: der,
                validFrom: try fields.moment("valid_from"))
        }
    }

    /// `key.revoked`: the end of a key version before its successor's, as the revocation row holds it.
    public struct Revoked: Sendable, Hashable {
        public static let ledgerType = LedgerTransactionType.keyRevoked

        public let owner: KeyOwner
        public let version: Int64
        public let revokedAt: UTCMicros
        public let reason: String

        public init(owner: KeyOwner, version: Int64, revokedAt: UTCMicros, reason: String) {
            (self.owner, self.version, self.revokedAt, self.reason) = (owner, version, revokedAt, reason)
        }

        private static let keys: Set<String> = ["org", "key_version", "revoked_at", "reason"]

        /// `{"key_version":…,"org":…,"reason":…,"revoked_at":…}`.
        public var ledgerBody: JSONValue {
            .object([
                "org": .string(owner.name),
                "key_version": .integer(version),
                "revoked_at": .string(revokedAt.description),
                "reason": .string(reason),
            ])
        }

        /// The revocation `body` states: every key present, none other, a reason that says something.
        public init(ledgerBody body: JSONValue) throws(LedgerDocumentError) {
            let fields = try LedgerFields(body, expected: Self.keys, path: "body")
            let reason = try fields.string("reason")
            guard !reason.allSatisfy(\.isWhitespace) else {
                throw .malformed(field: "body.reason", reason: "must say why the key was revoked")
            }
            self.init(
                owner: try KeyEvent.owner(fields), version: try KeyEvent.version(fields),
                revokedAt: try fields.moment("revoked_at"),
                reason: reason)
        }
    }

    private static func owner(_ fields: LedgerFields) throws(LedgerDocumentError) -> KeyOwner {
        let name = try fields.string("org")
        guard let owner = try? KeyOwner(name: name) else {
            throw .malformed(field: fields.name("org"), reason: "must be an org code or \(KeyOwner.ordererName), not \(name)")
        }
        return owner
    }

    private static func version(_ fields: LedgerFields) throws(LedgerDocumentError) -> Int64 {
        let version = try fields.integer("key_version")
        guard version >= 1 else { throw .malformed(field: fields.name("key_version"), reason: "must be 1 or more") }
        return version
    }
}
