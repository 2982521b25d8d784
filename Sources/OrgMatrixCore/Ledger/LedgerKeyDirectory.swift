import SMCrypto

/// Whether a key version may sign for a moment (docs/LEDGER.md, "Endorsements"), and if not, why.
public enum KeyValidity: Sendable, Hashable {
    case valid
    /// No key row for that owner and version.
    case unknown
    case notYetValid(validFrom: UTCMicros)
    case revoked(revokedAt: UTCMicros)
    case superseded(byVersion: Int64, validFrom: UTCMicros)

    /// The rule, once: valid from `valid_from` on; not at or after a revocation; not from the next
    /// version's `valid_from` on. A revocation is named before a successor when both apply.
    public static func of(_ key: LedgerEvidence.Key, next: LedgerEvidence.Key?, at moment: UTCMicros) -> KeyValidity {
        if moment < key.validFrom { return .notYetValid(validFrom: key.validFrom) }
        if let revokedAt = key.revocation?.revokedAt, revokedAt <= moment { return .revoked(revokedAt: revokedAt) }
        if let next, next.validFrom <= moment { return .superseded(byVersion: next.version, validFrom: next.validFrom) }
        return .valid
    }
}

/// A tenant's key rows, read once: each version's parsed public key, the validity rule, and what
/// is wrong with the rows themselves (versions, order, unreadable keys).
public struct LedgerKeyDirectory: Sendable {
    struct Entry: Sendable {
        let key: LedgerEvidence.Key
        /// Nil when the stored bytes are not an SM2 SubjectPublicKeyInfo.
        let publicKey: SM2PublicKey?
    }

    /// Per owner and version, the first row stored for it.
    private let entries: [KeyOwner: [Int64: Entry]]
    /// What is wrong with the key rows, found when the directory was read.
    let failures: [LedgerVerificationFailure]

    public init(_ keys: [LedgerEvidence.Key]) {
        var entries: [KeyOwner: [Int64: Entry]] = [:]
        var failures: [LedgerVerificationFailure] = []
        for key in keys {
            let field = Self.field(key.owner, key.version)
            guard entries[key.owner]?[key.version] == nil else {
                failures.append(
                    .init(
                        .keyVersionOutOfSequence, field: "\(field).key_version", expected: "each version once",
                        found: "version \(key.version) again"))
                continue
            }
            let publicKey: SM2PublicKey?
            do { publicKey = try SM2PublicKey(derRepresentation: key.publicKeyDER) } catch {
                publicKey = nil
                failures.append(
                    .init(
                        .keyMalformed, field: "\(field).public_key", expected: "an SM2 SubjectPublicKeyInfo",
                        found: error.description))
            }
            entries[key.owner, default: [:]][key.version] = Entry(key: key, publicKey: publicKey)
        }
        for (owner, versions) in entries {
            let ordered = versions.values.map(\.key).sorted { $0.version < $1.version }
            for (index, key) in ordered.enumerated() {
                let field = Self.field(owner, key.version)
                let expectedVersion = index == 0 ? 1 : ordered[index - 1].version + 1
                if key.version != expectedVersion {
                    failures.append(
                        .init(
                            .keyVersionOutOfSequence, field: "\(field).key_version", expected: String(expectedVersion),
                            found: String(key.version)))
                }
                if index > 0, key.validFrom <= ordered[index - 1].validFrom {
                    failures.append(
                        .init(
                            .keyValidFromNotIncreasing, field: "\(field).valid_from",
                            expected: "after \(ordered[index - 1].validFrom)", found: key.validFrom.description))
                }
            }
        }
        self.entries = entries
        self.failures = failures
    }

    /// `keys[HQ/2]`: how failures name a key row.
    static func field(_ owner: KeyOwner, _ version: Int64) -> String { "keys[\(owner.name)/\(version)]" }

    /// Every key row, one per owner and version, by owner and version.
    public var keys: [LedgerEvidence.Key] {
        entries.keys.sorted().flatMap { owner in entries[owner]!.keys.sorted().map { entries[owner]![$0]!.key } }
    }

    public func key(owner: KeyOwner, version: Int64) -> LedgerEvidence.Key? { entries[owner]?[version]?.key }

    /// The orgs with a key version valid at `moment`, sorted: who must sign a checkpoint cut then.
    public func orgsWithValidKey(at moment: UTCMicros) -> [OrgCode] {
        entries.compactMap { owner, versions -> OrgCode? in
            guard case .org(let org) = owner, versions.keys.contains(where: { validity(owner: owner, version: $0, at: moment) == .valid })
            else { return nil }
            return org
        }.sorted()
    }

    /// Whether `owner`'s key `version` may sign for `moment`; a gap in the versions (already a
    /// failure of its own) leaves the next stored version as the successor.
    public func validity(owner: KeyOwner, version: Int64, at moment: UTCMicros) -> KeyValidity {
        guard let versions = entries[owner], let entry = versions[version] else { return .unknown }
        let next = versions.keys.filter { $0 > version }.min().map { versions[$0]!.key }
        return .of(entry.key, next: next, at: moment)
    }

    /// Why `signatureDER` is not `owner`'s key `version` signing exactly `message` (SM2, default
    /// ID), or nil when it is. The key must exist: ask `validity` first.
    func signatureProblem(owner: KeyOwner, version: Int64, signatureDER: [UInt8], message: [UInt8]) -> (
        kind: LedgerVerificationFailure.Kind, found: String
    )? {
        let signature: SM2Signature
        do { signature = try SM2Signature(derRepresentation: signatureDER) } catch {
            return (.signatureMalformed, error.description)
        }
        guard let publicKey = entries[owner]![version]!.publicKey else {
            return (.signatureInvalid, "the key's stored public key is not an SM2 key")
        }
        let valid: Bool
        do { valid = try publicKey.isValidSignature(signature, for: message) } catch {
            return (.signatureInvalid, error.description)
        }
        return valid ? nil : (.signatureInvalid, "a signature that does not verify")
    }
}
