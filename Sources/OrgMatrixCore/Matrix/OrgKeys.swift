import Foundation
import SMCrypto

/// Whose signing key it is: an org's, or the tenant's orderer (one per tenant, it signs block headers).
public enum KeyOwner: Sendable, Hashable, Comparable, CustomStringConvertible {
    case org(OrgCode)
    case orderer

    /// The name the ledger and the database use: the org's code, or `orderer` (lower case, so no
    /// org code can be it).
    public var name: String {
        switch self {
        case .org(let code): code.rawValue
        case .orderer: Self.ordererName
        }
    }

    public static let ordererName = "orderer"

    public init(name: String, field: String = "owner") throws(MatrixProblem) {
        self = name == Self.ordererName ? .orderer : .org(try OrgCode(name, field: field))
    }

    public var org: OrgCode? {
        if case .org(let code) = self { code } else { nil }
    }

    public var description: String {
        switch self {
        case .org(let code): "org \(code)"
        case .orderer: "the orderer"
        }
    }

    /// Orgs in code order, the orderer last.
    public static func < (lhs: Self, rhs: Self) -> Bool {
        switch (lhs, rhs) {
        case (.org(let left), .org(let right)): left < right
        case (.org, .orderer): true
        case (.orderer, _): false
        }
    }
}

/// Who holds a key's private half: the server (sealed under the tenant's data key) or the org
/// itself, which registers only its public key and signs on its own machine.
public enum KeyCustody: String, Sendable, Hashable, CaseIterable {
    case custodial
    case client
}

/// The end of a key's validity before its successor's: written once, never undone.
public struct KeyRevocation: Sendable, Hashable {
    public let revokedAt: Date
    public let reason: String

    public init(revokedAt: Date, reason: String) {
        self.revokedAt = revokedAt
        self.reason = reason
    }

    /// A reason says why in 1–500 characters (counted in code points, as the database does).
    public static let reasonLengthMax = 500

    public static func reasonProblem(_ reason: String, field: String = "reason") -> MatrixProblem? {
        let length = reason.unicodeScalars.count
        guard (1...reasonLengthMax).contains(length), !reason.allSatisfy(\.isWhitespace) else {
            return MatrixProblem(field: field, reason: "must say why in 1–\(reasonLengthMax) characters")
        }
        return nil
    }
}

/// One version of an owner's key, as registered: immutable once stored.
public struct OrgKeyVersion: Sendable, Hashable {
    public let owner: KeyOwner
    /// 1, 2, … per owner.
    public let version: Int32
    public let custody: KeyCustody
    public let publicKey: SM2PublicKey
    /// The database's time of registration.
    public let validFrom: Date
    public let revocation: KeyRevocation?

    public init(
        owner: KeyOwner, version: Int32, custody: KeyCustody, publicKey: SM2PublicKey, validFrom: Date, revocation: KeyRevocation?
    ) {
        self.owner = owner
        self.version = version
        self.custody = custody
        self.publicKey = publicKey
        self.validFrom = validFrom
        self.revocation = revocation
    }
}

/// Every version of one owner's key, and the rule that says which one signs at a moment.
///
/// A version is valid over [valid_from, end), where end is the earlier of the next version's
/// valid_from and its revocation: so at most one version is valid at any moment, a rotation
/// ends the old key exactly when the new one starts, and a revoked key signs nothing from its
/// revocation on (docs/LEDGER.md, "Endorsements").
public struct OrgKeyHistory: Sendable, Hashable {
    public let owner: KeyOwner
    /// In version order: 1, 2, …
    public let versions: [OrgKeyVersion]

    /// `versions` must be this owner's, numbered 1, 2, … without gaps, each starting after the one
    /// before: what the database guarantees (Schema/0012_org_keys.sql), so anything else is a
    /// programmer error.
    public init(owner: KeyOwner, versions: [OrgKeyVersion]) {
        let sorted = versions.sorted { $0.version < $1.version }
        for (index, key) in sorted.enumerated() {
            precondition(key.owner == owner && key.version == Int32(index + 1), "key versions of \(owner) are not 1, 2, …")
            precondition(
                index == 0 || sorted[index - 1].validFrom < key.validFrom, "key versions of \(owner) do not start in order")
        }
        self.owner = owner
        self.versions = sorted
    }

    /// When `version` stops being valid (its successor's start or its revocation, whichever is
    /// first); nil while it is the current, unrevoked version.
    public func validTo(version: Int32) -> Date? {
        guard let index = versions.firstIndex(where: { $0.version == version }) else { return nil }
        let next = index + 1 < versions.count ? versions[index + 1].validFrom : nil
        switch (next, versions[index].revocation?.revokedAt) {
        case (let next?, let revoked?): return min(next, revoked)
        case (let next?, nil): return next
        case (nil, let revoked?): return revoked
        case (nil, nil): return nil
        }
    }

    /// The version valid at `moment`: valid_from ≤ moment, not revoked at or before it, and
    /// before the next version's valid_from. Nil before the first key, after a revocation that
    /// nothing replaced, and in the gap between a revocation and the next version.
    /// Moments compare to the microsecond, as the database keeps them: one timestamptz decoded
    /// by PostgresNIO and the same instant built from its integer microseconds (a ledger
    /// transaction's `at`) can be two Dates a last bit apart, and a key registered in the very
    /// transaction that writes its `key.registered` starts exactly at that transaction's `at`.
    public func valid(at moment: Date) -> OrgKeyVersion? {
        valid(at: UTCMicros(moment))
    }

    /// `valid(at:)` for a ledger moment, given in whole microseconds.
    public func valid(at moment: UTCMicros) -> OrgKeyVersion? {
        let at = moment.microsecondsSinceEpoch
        // Versions start in order, so only the last one started by `moment` can be valid then.
        guard let key = versions.last(where: { UTCMicros($0.validFrom).microsecondsSinceEpoch <= at }) else { return nil }
        if let end = validTo(version: key.version), UTCMicros(end).microsecondsSinceEpoch <= at { return nil }
        return key
    }


    /// The newest version, valid or not.
    public var latest: OrgKeyVersion? { versions.last }
}
