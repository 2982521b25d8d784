import Foundation
import Logging
import NIOCore
import OrgMatrixCore
import PostgresNIO
import SMCrypto
import Synchronization

/// An operating error of key custody: an unusable master key file, a refused registration or
/// revocation, a key that cannot sign. `field` names the input at fault when there is one.
///
/// A struct around a code so codes can be added without breaking callers. `detail` never holds
/// key material (a fingerprint's first 16 hex digits at most).
public struct KeyError: Error, Sendable, CustomStringConvertible {
    public struct Code: Sendable, Hashable, CustomStringConvertible {
        public let name: String
        private init(_ name: String) { self.name = name }
        public var description: String { name }

        /// `ORGMATRIX_MASTER_KEY_FILE` is not set, and something needs the master key.
        public static let masterKeyNotConfigured = Code("master-key-not-configured")
        /// The master key file is missing, not a regular file, or not 32 hex digits.
        public static let masterKeyFileUnusable = Code("master-key-file-unusable")
        /// The master key file is readable by its group or by others.
        public static let masterKeyFileExposed = Code("master-key-file-exposed")
        /// The master key file belongs to another user than the one running the server.
        public static let masterKeyFileNotOwned = Code("master-key-file-not-owned")
        /// The tenant's data key was wrapped by another master key than the one given.
        public static let wrongMasterKey = Code("wrong-master-key")
        /// A sealed key does not open under the right key: the stored bytes were altered.
        public static let sealedKeyDamaged = Code("sealed-key-damaged")
        public static let unknownTenant = Code("unknown-tenant")
        public static let unknownOrg = Code("unknown-org")
        /// The ledger settings in force do not list the org as holding its own key.
        public static let notClientHeld = Code("not-client-held")
        /// Not one PEM `PUBLIC KEY` block holding an SM2 SubjectPublicKeyInfo.
        public static let malformedPublicKey = Code("malformed-public-key")
        /// A well-formed key that is not a point of sm2p256v1 (or is on another curve).
        public static let publicKeyNotOnCurve = Code("public-key-not-on-curve")
        /// The tenant has this public key already (under some owner and version).
        public static let duplicateKey = Code("duplicate-key")
        public static let noSuchKey = Code("no-such-key")
        public static let alreadyRevoked = Code("already-revoked")
        public static let invalidReason = Code("invalid-reason")
        /// The owner has no key valid at the moment asked about.
        public static let noValidKey = Code("no-valid-key")
        /// The key valid now is client-held: the server cannot sign with it.
        public static let notCustodial = Code("not-custodial")
    }

    public let code: Code
    public let detail: String
    public let field: String?

    public init(_ code: Code, _ detail: String, field: String? = nil) {
        self.code = code
        self.detail = detail
        self.field = field
    }

    public var description: String { field.map { "\(code): \($0): \(detail)" } ?? "\(code): \(detail)" }
}

/// The 128-bit SM4 key ops provide in a file (`ORGMATRIX_MASTER_KEY_FILE`): it wraps each
/// tenant's data key and nothing else. Its bytes never appear in `description`, `dump` or logs.
public struct MasterKey: Sendable, CustomStringConvertible, CustomDebugStringConvertible, CustomReflectable {
    private let bytes: [UInt8]
    /// SM3 of the key's 16 bytes, as 64 hex digits: stored beside every data key it wraps, so a
    /// wrong key file is recognised before anything is decrypted.
    public let fingerprint: String
    /// Where the key came from (its file), for messages.
    public let source: String
    /// The custodial keys this process has opened under this master key.
    let unsealed = UnsealedKeys()

    public init(rawRepresentation: [UInt8], source: String) throws(KeyError) {
        guard rawRepresentation.count == SM4.keyByteCount else {
            throw KeyError(
                .masterKeyFileUnusable, "\(source): a master key is \(SM4.keyByteCount) bytes, not \(rawRepresentation.count)")
        }
        bytes = rawRepresentation
        fingerprint = Hex.encode(SM3.hash(rawRepresentation))
        self.source = source
    }

    /// Reads a key file: 32 hex digits (surrounding whitespace allowed), a regular file of the
    /// user running this process, readable by nobody else (mode 0600 or stricter). The checks
    /// are made on the opened file, so the file checked is the file read.
    public init(contentsOfFile path: String) throws(KeyError) {
        let descriptor = open(path, O_RDONLY | O_CLOEXEC)
        guard descriptor >= 0 else {
            throw KeyError(.masterKeyFileUnusable, "cannot open the master key file \(path): \(String(cString: strerror(errno)))")
        }
        let handle = FileHandle(fileDescriptor: descriptor, closeOnDealloc: true)
        var info = stat()
        guard fstat(descriptor, &info) == 0, Int(info.st_mode) & 0o170000 == 0o100000 else {
            throw KeyError(.masterKeyFileUnusable, "the master key file \(path) is not a regular file")
        }
        let permissions = Int(info.st_mode) & 0o7777
        guard permissions & 0o077 == 0 else {
            let octal = String(permissions, radix: 8)
            throw KeyError(
                .masterKeyFileExposed,
                "the master key file \(path) has mode \(String(repeating: "0", count: max(0, 4 - octal.count)) + octal): "
                    + "its group or others can read it; it must be 0600 or stricter (chmod 600 \(path))")
        }
        guard info.st_uid == geteuid() else {
            throw KeyError(
                .masterKeyFileNotOwned,
                "the master key file \(path) belongs to uid \(info.st_uid), not to uid \(geteuid()) running this process")
        }
        var content: [UInt8]
        do {
            content = Array(try handle.readToEnd() ?? Data())
        } catch {
            throw KeyError(.masterKeyFileUnusable, "cannot read the master key file \(path)")
        }
        defer { wipe(&content) }
        let text = content.drop { Self.isSpace($0) }.reversed().drop { Self.isSpace($0) }.reversed()
        guard text.count == 2 * SM4.keyByteCount, var key = try? Hex.decode(String(decoding: text, as: UTF8.self)) else {
            throw KeyError(
                .masterKeyFileUnusable, "the master key file \(path) must hold 32 hex digits (a 128-bit key) and nothing else")
        }
        defer { wipe(&key) }
        try self.init(rawRepresentation: key, source: path)
    }

    private static func isSpace(_ byte: UInt8) -> Bool { byte == 0x20 || (0x09...0x0D).contains(byte) }
}

/// Custodial private keys this process has unsealed and checked against their public keys, by
/// tenant, owner and version. A key row never changes, so an opened key stays what it was, and
/// the next signature skips the data key, two SM4 opens and deriving the public point (about
/// half of a custodial signature's cost, `orgmatrix-bench ledger` part 3). Which version may
/// sign is still read from the database every time, so a revocation counts at once. In this
/// process's memory only; bounded, emptied when full.
final class UnsealedKeys: Sendable {
    struct ID: Hashable {
        let tenant: UUID
        let owner: String
        let version: Int32
    }

    static let capacity = 4096
    private let keys = Mutex<[ID: SM2PrivateKey]>([:])

    func key(_ id: ID) -> SM2PrivateKey? { keys.withLock { $0[id] } }

    func keep(_ key: SM2PrivateKey, as id: ID) {
        keys.withLock {
            if $0.count >= Self.capacity { $0.removeAll() }
            $0[id] = key
        }
    }
}

extension MasterKey {

    /// HMAC-SM3 of `message` under a key derived from this one for the purpose: what an
    /// idempotency record stores of a request, so that a body with private values (a contract
    /// price) cannot be found by hashing guesses against a plain digest of it.
    public func requestDigest(_ message: [UInt8]) -> [UInt8] {
        var subkey = HMACSM3.authenticationCode(key: bytes, message: Array("orgmatrix:idempotency-request:v1".utf8))
        defer { wipe(&subkey) }
        return HMACSM3.authenticationCode(key: subkey, message: message)
    }

    /// Wraps a data key (SM4.Sealed under this key).
    func wrap(_ plaintext: [UInt8], associatedData: [UInt8]) throws -> [UInt8] {
        try SM4.Sealed.seal(key: bytes, plaintext: plaintext, associatedData: associatedData)
    }

    func unwrap(_ sealed: [UInt8], associatedData: [UInt8]) throws -> [UInt8] {
        try SM4.Sealed.open(key: bytes, sealed: sealed, associatedData: associatedData)
    }

    public var description: String { "MasterKey(\(source), fingerprint \(fingerprint.prefix(16))…)" }
    public var debugDescription: String { description }
    public var customMirror: Mirror { Mirror(self, children: [:]) }
}

/// Overwrites a buffer that held a secret, so it does not linger in freed memory.
func wipe(_ bytes: inout [UInt8]) {
    bytes.withUnsafeMutableBytes { _ = $0.initializeMemory(as: UInt8.self, repeating: 0) }
}

/// An SM2 signature by an owner's key version: what an endorsement records.
public struct KeySignature: Sendable, Hashable {
    public let owner: KeyOwner
    public let version: Int32
    /// Over exactly the signed bytes, with the default distinguishing ID 1234567812345678;
    /// `derRepresentation` is what `openssl dgst -sm3 -verify … -sigopt distid:1234567812345678` reads.
    public let signature: SM2Signature
}

/// One tenant's keys, on a connection inside a transaction: the owner's (`tenant apply`,
/// `orgmatrix keys`) or a principal's (`Sandbox.keys`). Row-level security decides what the
/// caller may read and write (Schema/0012_org_keys.sql); every refusal here comes before any write.
public struct Keys: Sendable {
    public let tenantID: TenantID
    public let connection: PostgresConnection
    public let logger: Logger

    public init(tenantID: TenantID, connection: PostgresConnection, logger: Logger) {
        self.tenantID = tenantID
        self.connection = connection
        self.logger = logger
    }

    // ---- custodial keys ----

    /// Generates the owner's next key version (its first, or a rotation that ends the current one
    /// at this transaction's time), seals its private half under the tenant data key (creating
    /// the data key when the tenant has none) and stores both. Needs the owner role.
    public func generateCustodialKey(for owner: KeyOwner, masterKey: MasterKey) async throws -> OrgKeyVersion {
        let orgID = try await orgID(of: owner)
        let version = try await nextVersion(of: owner)
        let privateKey = SM2PrivateKey.generate()
        let current = try await currentDataKey(masterKey: masterKey)
        var dataKey = current.key
        defer { wipe(&dataKey) }
        var plaintext = privateKey.derRepresentation
        defer { wipe(&plaintext) }
        let sealed = try SM4.Sealed.seal(
            key: dataKey, plaintext: plaintext, associatedData: privateKeyAssociatedData(owner: owner, version: version))
        let validFrom = try await insertKey(
            owner: owner, orgID: orgID, version: version, custody: .custodial, publicKey: privateKey.publicKey)
        try await connection.query(
            """
            INSERT INTO custodial_private_keys (tenant_id, owner, version, data_key_version, sealed_private_key)
            VALUES (\(tenantID.rawValue), \(owner.name), \(version), \(current.version), \(ByteBuffer(bytes: sealed)))
            """, logger: logger)
        return OrgKeyVersion(
            owner: owner, version: version, custody: .custodial, publicKey: privateKey.publicKey, validFrom: validFrom,
            revocation: nil)
    }

    /// Signs `message` with the owner's custodial key valid now (the database's now()): SM2 with
    /// Z_A for the default ID and SM3, over exactly these bytes. The private key is unsealed for
    /// this one signature; the buffers that held it and the data key are wiped afterwards (the
    /// scalar inside `SM2PrivateKey` cannot be).
    public func sign(_ message: [UInt8], as owner: KeyOwner, masterKey: MasterKey) async throws -> KeySignature {
        let now = try await connection.query("SELECT now()", logger: logger).collect().first!.decode(Date.self)
        guard let key = try await history(of: owner).valid(at: now) else {
            throw KeyError(.noValidKey, "\(owner) has no key valid now", field: "owner")
        }
        guard key.custody == .custodial else {
            throw KeyError(
                .notCustodial, "\(owner)'s key version \(key.version) is client-held: the org signs with it itself",
                field: "owner")
        }
        let id = UnsealedKeys.ID(tenant: tenantID.rawValue, owner: owner.name, version: key.version)
        if let opened = masterKey.unsealed.key(id), opened.publicKey == key.publicKey {
            return KeySignature(owner: owner, version: key.version, signature: try opened.signature(for: message))
        }
        let row = try await connection.query(
            """
            SELECT data_key_version, sealed_private_key FROM custodial_private_keys
            WHERE tenant_id = \(tenantID.rawValue) AND owner = \(owner.name) AND version = \(key.version)
            """, logger: logger
        ).collect().first
        guard let (dataKeyVersion, sealed) = try row?.decode((Int32, ByteBuffer).self) else {
            throw KeyError(
                .noValidKey, "\(owner)'s key version \(key.version) has no sealed private key this principal can read",
                field: "owner")
        }
        var dataKey = try await dataKey(version: dataKeyVersion, masterKey: masterKey)
        defer { wipe(&dataKey) }
        var plaintext: [UInt8]
        do {
            plaintext = try SM4.Sealed.open(
                key: dataKey, sealed: Array(sealed.readableBytesView),
                associatedData: privateKeyAssociatedData(owner: owner, version: key.version))
        } catch {
            throw KeyError(
                .sealedKeyDamaged, "the sealed private key of \(owner) version \(key.version) does not open: it was altered")
        }
        defer { wipe(&plaintext) }
        let privateKey = try SM2PrivateKey(derRepresentation: plaintext)
        guard privateKey.publicKey == key.publicKey else {
            throw KeyError(
                .sealedKeyDamaged, "the sealed private key of \(owner) version \(key.version) does not match its public key")
        }
        masterKey.unsealed.keep(privateKey, as: id)
        return KeySignature(owner: owner, version: key.version, signature: try privateKey.signature(for: message))
    }

    // ---- client-held keys ----

    /// Registers an org's own public key (PEM) as its next version: refused, naming the field,
    /// for malformed PEM, a point not on sm2p256v1, a key the tenant has already, an org not in
    /// the tenant, or an org the ledger settings in force do not list as client-held.
    public func registerClientKey(org: OrgCode, publicKeyPEM: String) async throws -> OrgKeyVersion {
        let publicKey: SM2PublicKey
        do {
            publicKey = try SM2PublicKey(pemRepresentation: publicKeyPEM)
        } catch {
            let code: KeyError.Code =
                [.invalidPoint, .wrongCurve].contains(error.code) ? .publicKeyNotOnCurve : .malformedPublicKey
            throw KeyError(code, error.detail, field: "public_key")
        }
        let owner = KeyOwner.org(org)
        let orgID = try await orgID(of: owner)
        let clientHeld =
            try await connection.query(
                """
                SELECT client_held FROM ledger_settings WHERE tenant_id = \(tenantID.rawValue) ORDER BY version DESC LIMIT 1
                """, logger: logger
            ).collect().first?.decode([String].self) ?? []
        guard clientHeld.contains(org.rawValue) else {
            throw KeyError(
                .notClientHeld,
                "\(org) is not client-held in the ledger settings in force (the tenant file's ledger.client_held)", field: "org")
        }
        let existing = try await connection.query(
            """
            SELECT owner, version FROM org_keys
            WHERE tenant_id = \(tenantID.rawValue) AND public_key = \(ByteBuffer(bytes: publicKey.derRepresentation))
            """, logger: logger
        ).collect().first
        if let (holder, version) = try existing?.decode((String, Int32).self) {
            throw KeyError(
                .duplicateKey, "this public key is registered already, as \(holder)'s version \(version)", field: "public_key")
        }
        let version = try await nextVersion(of: owner)
        let validFrom = try await insertKey(owner: owner, orgID: orgID, version: version, custody: .client, publicKey: publicKey)
        return OrgKeyVersion(
            owner: owner, version: version, custody: .client, publicKey: publicKey, validFrom: validFrom, revocation: nil)
    }

    // ---- revocation and lookup ----

    /// Ends a key version now, with a reason; a version is revoked once.
    public func revoke(owner: KeyOwner, version: Int32, reason: String) async throws -> KeyRevocation {
        if let problem = KeyRevocation.reasonProblem(reason) { throw KeyError(.invalidReason, problem.reason, field: "reason") }
        guard let key = try await history(of: owner).versions.first(where: { $0.version == version }) else {
            throw KeyError(.noSuchKey, "\(owner) has no key version \(version)", field: "version")
        }
        if let revocation = key.revocation {
            throw KeyError(
                .alreadyRevoked, "\(owner)'s key version \(version) was revoked at \(revocation.revokedAt.formatted(.iso8601))",
                field: "version")
        }
        let revokedAt = try await connection.query(
            """
            INSERT INTO org_key_revocations (tenant_id, owner, version, reason)
            VALUES (\(tenantID.rawValue), \(owner.name), \(version), \(reason))
            RETURNING revoked_at, (extract(epoch FROM revoked_at) * 1000000)::bigint
            """, logger: logger
        ).collect().first!.decode((Date, Int64).self)
        try await TenantLedger(tenantID: tenantID, connection: connection, logger: logger).record(
            .keyRevoked,
            body: KeyEvent.Revoked(
                owner: owner, version: Int64(version), revokedAt: UTCMicros(microsecondsSinceEpoch: revokedAt.1), reason: reason
            ).ledgerBody)
        return KeyRevocation(revokedAt: revokedAt.0, reason: reason)
    }

    /// Every version of the owner's key, with revocations (empty when it has none).
    public func history(of owner: KeyOwner) async throws -> OrgKeyHistory {
        try await histories(only: owner).first ?? OrgKeyHistory(owner: owner, versions: [])
    }

    /// Every owner's keys, orgs in code order and the orderer last.
    public func histories() async throws -> [OrgKeyHistory] { try await histories(only: nil) }

    /// The owner's key version valid at `moment` (docs/LEDGER.md: valid_from ≤ moment, not revoked
    /// at or before it, before the next version's valid_from), if any.
    public func validKey(for owner: KeyOwner, at moment: Date) async throws -> OrgKeyVersion? {
        try await history(of: owner).valid(at: moment)
    }

    private func histories(only owner: KeyOwner?) async throws -> [OrgKeyHistory] {
        let rows = try await connection.query(
            """
            SELECT k.owner, k.version, k.custody, k.public_key, k.valid_from, r.revoked_at, r.reason
            FROM org_keys k LEFT JOIN org_key_revocations r USING (tenant_id, owner, version)
            WHERE k.tenant_id = \(tenantID.rawValue) AND (\(owner?.name)::text IS NULL OR k.owner = \(owner?.name))
            ORDER BY k.owner, k.version
            """, logger: logger)
        var versions: [KeyOwner: [OrgKeyVersion]] = [:]
        for try await (name, version, custody, publicKey, validFrom, revokedAt, reason) in rows.decode(
            (String, Int32, String, ByteBuffer, Date, Date?, String?).self)
        {
            let owner = try KeyOwner(name: name)
            versions[owner, default: []].append(
                OrgKeyVersion(
                    owner: owner, version: version, custody: KeyCustody(rawValue: custody)!,
                    publicKey: try SM2PublicKey(derRepresentation: Array(publicKey.readableBytesView)), validFrom: validFrom,
                    revocation: revokedAt.map { KeyRevocation(revokedAt: $0, reason: reason ?? "") }))
        }
        return versions.keys.sorted().map { OrgKeyHistory(owner: $0, versions: versions[$0]!) }
    }

    // ---- private values ----

    /// Seals a private value (its salt ‖ value) under the tenant's newest data key, bound to its
    /// transaction and field, so a sealed value moved to another row does not open.
    public func sealPrivateValue(_ value: LedgerPrivateValue, transaction hash: LedgerHash, masterKey: MasterKey) async throws
        -> (dataKeyVersion: Int32, sealed: [UInt8])
    {
        let current = try await currentDataKey(masterKey: masterKey)
        var dataKey = current.key
        defer { wipe(&dataKey) }
        var plaintext = value.preimage
        defer { wipe(&plaintext) }
        let sealed = try SM4.Sealed.seal(
            key: dataKey, plaintext: plaintext, associatedData: privateValueAssociatedData(hash, field: value.field))
        return (current.version, sealed)
    }

    /// One stored private value: its row's columns.
    public struct SealedPrivateValue: Sendable {
        public let transaction: LedgerHash
        public let field: LedgerPrivateField
        public let dataKeyVersion: Int32
        public let sealed: [UInt8]

        public init(transaction: LedgerHash, field: LedgerPrivateField, dataKeyVersion: Int32, sealed: [UInt8]) {
            (self.transaction, self.field, self.dataKeyVersion, self.sealed) = (transaction, field, dataKeyVersion, sealed)
        }
    }

    /// Opens sealed private values, each data key unwrapped once; one that does not open, or
    /// holds no value of its field, was altered. Takes rows already read: the data keys are read
    /// on the same connection, which a query still streaming its rows would hold up.
    public func openPrivateValues(_ rows: [SealedPrivateValue], masterKey: MasterKey) async throws -> [LedgerPrivateValue] {
        var dataKeys: [Int32: [UInt8]] = [:]
        defer { for version in dataKeys.keys { wipe(&dataKeys[version]!) } }
        var values: [LedgerPrivateValue] = []
        for row in rows {
            if dataKeys[row.dataKeyVersion] == nil { dataKeys[row.dataKeyVersion] = try await dataKey(version: row.dataKeyVersion, masterKey: masterKey) }
            let damaged = KeyError(
                .sealedKeyDamaged, "the sealed private value \(row.field.rawValue) of transaction \(row.transaction.hex) does not open: it was altered")
            guard
                var preimage = try? SM4.Sealed.open(
                    key: dataKeys[row.dataKeyVersion]!, sealed: row.sealed, associatedData: privateValueAssociatedData(row.transaction, field: row.field))
            else { throw damaged }
            defer { wipe(&preimage) }
            guard let value = try? LedgerPrivateValue(field: row.field, preimage: preimage) else { throw damaged }
            values.append(value)
        }
        return values
    }

    // ---- the tenant data key ----

    /// The tenant's newest data key, created (version 1, wrapped under `masterKey`) when it has none.
    private func currentDataKey(masterKey: MasterKey) async throws -> (version: Int32, key: [UInt8]) {
        let newest = try await connection.query(
            "SELECT max(version) FROM tenant_data_keys WHERE tenant_id = \(tenantID.rawValue)", logger: logger
        ).collect().first?.decode(Int32?.self)
        if let newest { return (newest, try await dataKey(version: newest, masterKey: masterKey)) }
        var key = SMCrypto.randomBytes(SM4.keyByteCount)
        let sealed = try masterKey.wrap(key, associatedData: dataKeyAssociatedData(version: 1))
        do {
            try await connection.query(
                """
                INSERT INTO tenant_data_keys (tenant_id, version, sealed_key, master_key_fingerprint)
                VALUES (\(tenantID.rawValue), 1, \(ByteBuffer(bytes: sealed)), \(masterKey.fingerprint))
                """, logger: logger)
        } catch {
            wipe(&key)
            throw error
        }
        return (1, key)
    }

    /// Unwraps data key `version`, after checking it was wrapped by this master key.
    private func dataKey(version: Int32, masterKey: MasterKey) async throws -> [UInt8] {
        let row = try await connection.query(
            """
            SELECT sealed_key, master_key_fingerprint FROM tenant_data_keys WHERE tenant_id = \(tenantID.rawValue) AND version = \(version)
            """, logger: logger
        ).collect().first
        guard let (sealed, fingerprint) = try row?.decode((ByteBuffer, String).self) else {
            throw KeyError(.sealedKeyDamaged, "tenant \(tenantID) has no data key version \(version) this principal can read")
        }
        guard fingerprint == masterKey.fingerprint else {
            throw KeyError(
                .wrongMasterKey,
                "tenant \(tenantID)'s data key version \(version) was wrapped by the master key with fingerprint \(fingerprint.prefix(16))…, "
                    + "but \(masterKey.source) holds the one with fingerprint \(masterKey.fingerprint.prefix(16))…: the wrong master key file"
            )
        }
        do {
            return try masterKey.unwrap(Array(sealed.readableBytesView), associatedData: dataKeyAssociatedData(version: version))
        } catch {
            throw KeyError(
                .sealedKeyDamaged,
                "tenant \(tenantID)'s data key version \(version) does not open under its master key: it was altered")
        }
    }

    // ---- shared ----

    /// The org's id (nil for the orderer); an org outside the tenant (or the caller's sandbox) is refused.
    private func orgID(of owner: KeyOwner) async throws -> Int64? {
        guard let code = owner.org else { return nil }
        let row = try await connection.query(
            "SELECT org_id FROM orgs WHERE tenant_id = \(tenantID.rawValue) AND code = \(code.rawValue)", logger: logger
        ).collect().first
        guard let id = try row?.decode(Int64.self) else {
            throw KeyError(.unknownOrg, "no org \(code) in this tenant", field: "org")
        }
        return id
    }

    private func nextVersion(of owner: KeyOwner) async throws -> Int32 {
        try await connection.query(
            "SELECT coalesce(max(version), 0) + 1 FROM org_keys WHERE tenant_id = \(tenantID.rawValue) AND owner = \(owner.name)",
            logger: logger
        ).collect().first!.decode(Int32.self)
    }

    /// Inserts a public key row; the database sets valid_from (now()) and who registered it.
    private func insertKey(owner: KeyOwner, orgID: Int64?, version: Int32, custody: KeyCustody, publicKey: SM2PublicKey)
        async throws -> Date
    {
        let row = try await connection.query(
            """
            INSERT INTO org_keys (tenant_id, owner, org_id, version, custody, public_key)
            VALUES (\(tenantID.rawValue), \(owner.name), \(orgID), \(version), \(custody.rawValue),
                \(ByteBuffer(bytes: publicKey.derRepresentation)))
            RETURNING valid_from, (extract(epoch FROM valid_from) * 1000000)::bigint
            """, logger: logger
        ).collect().first!
        let (validFrom, validFromMicros) = try row.decode((Date, Int64).self)
        // Every key row has its `key.registered` transaction, written with it.
        try await TenantLedger(tenantID: tenantID, connection: connection, logger: logger).record(
            .keyRegistered,
            body: KeyEvent.Registered(
                owner: owner, version: Int64(version), custody: custody, publicKeyDER: publicKey.derRepresentation,
                validFrom: UTCMicros(microsecondsSinceEpoch: validFromMicros)
            ).ledgerBody)
        return validFrom
    }

    /// Binds a sealed data key to its tenant and version (Schema/0012_org_keys.sql).
    private func dataKeyAssociatedData(version: Int32) -> [UInt8] {
        Array("orgmatrix:tenant-data-key:v1|\(tenantID)|\(version)".utf8)
    }

    /// Binds a sealed private value to its tenant, transaction and field (Schema/0018).
    private func privateValueAssociatedData(_ hash: LedgerHash, field: LedgerPrivateField) -> [UInt8] {
        Array("orgmatrix:ledger-private-value:v1|\(tenantID)|\(hash.hex)|\(field.rawValue)".utf8)
    }

    /// Binds a sealed private key to its tenant, owner and version.
    private func privateKeyAssociatedData(owner: KeyOwner, version: Int32) -> [UInt8] {
        Array("orgmatrix:org-private-key:v1|\(tenantID)|\(owner.name)|\(version)".utf8)
    }
}

extension Sandbox {
    /// The principal's tenant's keys, read (and, for its own client-held key, written) as the
    /// principal: what the ledger's postings sign with.
    public var keys: Keys { Keys(tenantID: principal.tenantID, connection: connection, logger: logger) }
}

/// `orgmatrix keys …`: registering, listing and revoking a tenant's keys as the owner role, each
/// in one transaction with its audit event.
public struct KeyAdmin: Sendable {
    public let client: PostgresClient
    public let logger: Logger
    /// With it, HQ endorses the key event with its custodial key at once; without, it waits.
    public let masterKey: MasterKey?

    public init(client: PostgresClient, logger: Logger, masterKey: MasterKey? = nil) {
        self.client = client
        self.logger = logger
        self.masterKey = masterKey
    }

    /// Registers a client-held org's public key as its next version.
    public func register(tenant: TenantCode, org: OrgCode, publicKeyPEM: String) async throws -> OrgKeyVersion {
        try await inTenant(tenant) { keys in
            let key = try await keys.registerClientKey(org: org, publicKeyPEM: publicKeyPEM)
            try await audit(
                keys, action: "key.register", owner: key.owner, detail: ["version": String(key.version), "custody": "client"])
            return key
        }
    }

    /// Every owner's keys with their validity.
    public func list(tenant: TenantCode) async throws -> [OrgKeyHistory] {
        try await inTenant(tenant) { keys in try await keys.histories() }
    }

    /// Revokes one key version now.
    public func revoke(tenant: TenantCode, owner: KeyOwner, version: Int32, reason: String) async throws -> KeyRevocation {
        try await inTenant(tenant) { keys in
            let revocation = try await keys.revoke(owner: owner, version: version, reason: reason)
            try await audit(keys, action: "key.revoke", owner: owner, detail: ["version": String(version), "reason": reason])
            return revocation
        }
    }

    private func inTenant<T: Sendable>(_ tenant: TenantCode, _ body: @Sendable (Keys) async throws -> T) async throws -> T {
        do {
            return try await client.withTransaction(logger: logger) { connection in
                let row = try await connection.query(
                    "SELECT tenant_id FROM tenants WHERE code = \(tenant.rawValue)", logger: logger
                )
                .collect().first
                guard let tenantID = try row?.decode(UUID.self) else {
                    throw KeyError(.unknownTenant, "no tenant \(tenant)", field: "tenant")
                }
                let result = try await body(Keys(tenantID: TenantID(tenantID), connection: connection, logger: logger))
                if let masterKey {
                    // A master key that does not open this tenant's data key is reported, and the
                    // key event waits for HQ's endorsement; the key change itself needs no master key.
                    do {
                        try await TenantLedger(tenantID: TenantID(tenantID), connection: connection, logger: logger).endorseAsHQ(masterKey: masterKey)
                    } catch let error as KeyError {
                        logger.warning("HQ did not endorse the key event", metadata: ["reason": "\(error.detail)"])
                    }
                }
                return result
            }
        } catch let error as PostgresTransactionError {
            throw error.closureError ?? error
        }
    }

    /// The audit event of a key change, filed under the key's org (the orderer's under the ledger's hq org).
    private func audit(_ keys: Keys, action: String, owner: KeyOwner, detail: [String: String]) async throws {
        let body = String(decoding: try JSONEncoder().encode(detail), as: UTF8.self)
        try await keys.connection.query(
            """
            INSERT INTO audit_events (tenant_id, actor, org_id, action, subject, detail)
            VALUES (\(keys.tenantID.rawValue), 'cli:keys', coalesce(
                    (SELECT org_id FROM orgs WHERE tenant_id = \(keys.tenantID.rawValue) AND code = \(owner.org?.rawValue)),
                    (SELECT hq_org_id FROM ledger_settings WHERE tenant_id = \(keys.tenantID.rawValue) ORDER BY version DESC LIMIT 1)),
                \(action), \(owner.name), \(body)::jsonb)
            """, logger: logger)
    }
}
