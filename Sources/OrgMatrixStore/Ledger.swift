import Foundation
import NIOCore
import OrgMatrixCore
import PostgresNIO
import SMCrypto

/// Where a ledger transaction stands: not a column, but which rows exist (Schema/0013).
public enum LedgerStatus: Sendable, Hashable {
    case pending
    case committed
    case disputed(by: OrgCode, reason: String)

    public var name: String {
        switch self {
        case .pending: "pending"
        case .committed: "committed"
        case .disputed: "disputed"
        }
    }

    /// The status its rows give: a dispute stops a transaction whatever else was written, a
    /// commit row makes it committed, else it waits.
    init(committed: Bool, disputedBy disputer: String?, reason: String?) throws {
        if let disputer, let reason {
            self = .disputed(by: try OrgCode(disputer), reason: reason)
        } else {
            self = committed ? .committed : .pending
        }
    }
}

/// One endorsement as stored: the signature is verified before it is written.
public struct LedgerEndorsementRecord: Sendable, Hashable {
    public let org: OrgCode
    public let keyVersion: Int32
    public let signature: [UInt8]
    public let endorsedAt: Date
}

/// A ledger transaction with what has happened to it.
public struct LedgerTransactionRecord: Sendable {
    public let hash: LedgerHash
    public let canonicalBytes: [UInt8]
    public let transaction: LedgerTransaction
    public let transferID: Int64?
    public let status: LedgerStatus
    public let endorsements: [LedgerEndorsementRecord]
    /// The block that seals it, once sealed.
    public let blockNumber: Int64?

    /// The roles of the policy whose org has not endorsed yet (what is still missing).
    public var awaiting: [EndorserRole: OrgCode] {
        let endorsed = Set(endorsements.map(\.org))
        return transaction.endorsers.filter { transaction.policy.roles.contains($0.key) && !endorsed.contains($0.value) }
    }
}

extension Sandbox {
    /// Writes the ledger transaction evidencing a step the principal just posted, in the same
    /// database transaction (Schema/0013 refuses the step without it and it without the step).
    /// `endorser_org_ids` holds the orgs named under a role the policy uses, and only those.
    /// Its private values are sealed and stored with it (Schema/0018), their commitments in its bytes.
    func recordLedgerTransaction(
        _ type: LedgerTransactionType, body: JSONValue, endorsers: [EndorserRole: OrgCode], transferID: Int64?,
        privateValues: [LedgerPrivateValue] = []
    ) async throws -> LedgerTransactionRecord {
        let policy = try await ledgerPolicies().policy(for: type)
        let named = endorsers.filter { policy.roles.contains($0.key) }
        let atMicros = try await connection.query(
            "SELECT (extract(epoch FROM now()) * 1000000)::bigint", logger: logger
        ).collect().first!.decode(Int64.self)
        let transaction = LedgerTransaction(
            type: type, tenant: principal.tenantCode, at: UTCMicros(microsecondsSinceEpoch: atMicros), endorsers: named, policy: policy,
            body: body, privateCommitments: Dictionary(uniqueKeysWithValues: privateValues.map { ($0.field, $0.commitment) }))
        let bytes = transaction.canonicalBytes
        let hash = LedgerHash.of(bytes)
        let codes = Set(named.values).map(\.rawValue)
        try await connection.query(
            """
            INSERT INTO ledger_transactions (tenant_id, tx_hash, tx_type, at, canonical, endorser_org_ids, transfer_id, principal_id)
            VALUES (\(principal.tenantID.rawValue), \(ByteBuffer(bytes: hash.bytes)), \(type.rawValue), now(), \(ByteBuffer(bytes: bytes)),
                app_org_ids(\(codes)), \(transferID), \(principal.principalID))
            """, logger: logger)
        for value in privateValues {
            let sealed = try await keys.sealPrivateValue(value, transaction: hash, masterKey: try masterKeyForPrivateValues())
            try await connection.query(
                """
                INSERT INTO ledger_private_values (tenant_id, tx_hash, field, data_key_version, sealed, principal_id)
                VALUES (\(principal.tenantID.rawValue), \(ByteBuffer(bytes: hash.bytes)), \(value.field.rawValue), \(sealed.dataKeyVersion),
                    \(ByteBuffer(bytes: sealed.sealed)), \(principal.principalID))
                """, logger: logger)
        }
        return LedgerTransactionRecord(
            hash: hash, canonicalBytes: bytes, transaction: transaction, transferID: transferID, status: .pending, endorsements: [],
            blockNumber: nil)
    }

    /// The tenant's ledger settings in force now (its tenant file's `ledger:` section), if any.
    func ledgerSettings() async throws -> (hq: OrgCode, policies: LedgerPolicies)? {
        let rows = try await connection.query(
            """
            SELECT hq_code, policies::text FROM ledger_settings
            WHERE tenant_id = \(principal.tenantID.rawValue) AND effective_from <= now() ORDER BY version DESC LIMIT 1
            """, logger: logger
        ).collect()
        guard let row = rows.first else { return nil }
        let (hq, policiesText) = try row.decode((String, String).self)
        let texts = try JSONDecoder().decode([String: String].self, from: Data(policiesText.utf8))
        return (try OrgCode(hq), LedgerDefinition(hq: try OrgCode(hq), clientHeld: [], policies: texts).ledgerPolicies)
    }

    /// The tenant's policies: its ledger settings' where they name one, the defaults elsewhere.
    func ledgerPolicies() async throws -> LedgerPolicies {
        try await ledgerSettings()?.policies ?? LedgerPolicies()
    }

    /// Who plays each role for a transfer now: its two ends, the orgs settling each side's
    /// internal sale and purchase (`settles_for` with purpose sales or all for the sender,
    /// purchases or all for the receiver), HQ (the ledger settings' hq, or without settings the
    /// top of the sender's reports_to hierarchy, as a tenant file's default), and the lane's
    /// carrier. A role nobody plays is left out, and a policy that needs it stays pending.
    func transferEndorsers(transferID: Int64) async throws -> [EndorserRole: OrgCode] {
        let rows = try await connection.query(
            "SELECT sender, receiver, sender_settlement, receiver_settlement, carrier FROM app_transfer_endorsers(\(transferID))",
            logger: logger
        ).collect()
        guard let row = rows.first else { throw StoreError(.notFound, "No transfer \(transferID) in your sandbox.") }
        let (sender, receiver, senderSettlement, receiverSettlement, carrier) = try row.decode((String, String, String?, String?, String?).self)
        var roles: [EndorserRole: OrgCode] = [.sender: try OrgCode(sender), .receiver: try OrgCode(receiver)]
        if let senderSettlement { roles[.senderSettlement] = try OrgCode(senderSettlement) }
        if let receiverSettlement { roles[.receiverSettlement] = try OrgCode(receiverSettlement) }
        if let carrier { roles[.carrier] = try OrgCode(carrier) }
        if let hq = try await ledgerSettings()?.hq {
            roles[.hq] = hq
        } else if let hq = try await hqOrg(of: OrgCode(sender)) {
            roles[.hq] = hq
        }
        return roles
    }

    /// The top of `org`'s reports_to chain now (the org itself when it reports to nobody).
    func hqOrg(of org: OrgCode) async throws -> OrgCode? {
        try await connection.query(
            """
            SELECT app_hq_of(\(principal.tenantID.rawValue), \(org.rawValue))
            """, logger: logger
        ).collect().first?.decode(String?.self).flatMap { try? OrgCode($0) }
    }

    /// A transaction the principal's sandbox shows, with its endorsements and status.
    public func ledgerTransaction(hash: LedgerHash) async throws -> LedgerTransactionRecord? {
        try await ledgerTransactions(hashes: [hash]).first
    }

    /// What the principal's org must still endorse: pending transactions that name it under a
    /// role of their policy and that it has neither endorsed nor disputed, oldest first, a page
    /// at a time (`after` is the last hash of the previous page, with its time).
    public func pendingLedgerTransactions(after cursor: (at: UTCMicros, hash: LedgerHash)?, limit: Int) async throws -> [LedgerTransactionRecord] {
        let afterMicros = cursor?.at.microsecondsSinceEpoch ?? 0
        let afterHash = ByteBuffer(bytes: cursor?.hash.bytes ?? [])
        let rows = try await connection.query(
            """
            SELECT t.tx_hash FROM ledger_transactions t
            WHERE t.tenant_id = \(principal.tenantID.rawValue) AND \(principal.orgID.rawValue) = ANY (t.endorser_org_ids)
              AND (t.at, t.tx_hash) > (timestamptz 'epoch' + \(afterMicros) * interval '1 microsecond', \(afterHash))
              AND NOT EXISTS (SELECT 1 FROM ledger_commits c WHERE c.tenant_id = t.tenant_id AND c.tx_hash = t.tx_hash)
              AND NOT EXISTS (SELECT 1 FROM ledger_disputes d WHERE d.tenant_id = t.tenant_id AND d.tx_hash = t.tx_hash)
              AND NOT EXISTS (SELECT 1 FROM ledger_endorsements e
                               WHERE e.tenant_id = t.tenant_id AND e.tx_hash = t.tx_hash AND e.org_id = \(principal.orgID.rawValue))
            ORDER BY t.at, t.tx_hash LIMIT \(limit)
            """, logger: logger)
        var hashes: [LedgerHash] = []
        for try await row in rows { hashes.append(try LedgerHash(bytes(row.decode(ByteBuffer.self)))) }
        return try await ledgerTransactions(hashes: hashes)
    }

    /// Transactions by hash, in the given order; those outside the sandbox are left out.
    func ledgerTransactions(hashes: [LedgerHash]) async throws -> [LedgerTransactionRecord] {
        guard !hashes.isEmpty else { return [] }
        let buffers = hashes.map { ByteBuffer(bytes: $0.bytes) }
        let rows = try await connection.query(
            """
            SELECT t.tx_hash, t.canonical, t.transfer_id,
                EXISTS (SELECT 1 FROM ledger_commits c WHERE c.tenant_id = t.tenant_id AND c.tx_hash = t.tx_hash),
                (SELECT d.org_code FROM ledger_disputes d WHERE d.tenant_id = t.tenant_id AND d.tx_hash = t.tx_hash),
                (SELECT d.reason FROM ledger_disputes d WHERE d.tenant_id = t.tenant_id AND d.tx_hash = t.tx_hash),
                (SELECT e.block_number FROM ledger_block_entries e WHERE e.tenant_id = t.tenant_id AND e.tx_hash = t.tx_hash)
            FROM ledger_transactions t
            WHERE t.tenant_id = \(principal.tenantID.rawValue) AND t.tx_hash = ANY(\(buffers)::bytea[])
            """, logger: logger)
        var found: [LedgerHash: (bytes: [UInt8], transferID: Int64?, status: LedgerStatus, block: Int64?)] = [:]
        for try await row in rows {
            let (hashBuffer, canonical, transferID, committed, disputer, reason, block) = try row.decode(
                (ByteBuffer, ByteBuffer, Int64?, Bool, String?, String?, Int64?).self)
            let status = try LedgerStatus(committed: committed, disputedBy: disputer, reason: reason)
            found[try LedgerHash(bytes(hashBuffer))] = (bytes(canonical), transferID, status, block)
        }
        let endorsementRows = try await connection.query(
            """
            SELECT e.tx_hash, e.org_code, e.key_version, e.signature, e.endorsed_at
            FROM ledger_endorsements e
            WHERE e.tenant_id = \(principal.tenantID.rawValue) AND e.tx_hash = ANY(\(buffers)::bytea[])
            ORDER BY e.endorsed_at, e.org_code
            """, logger: logger)
        var endorsements: [LedgerHash: [LedgerEndorsementRecord]] = [:]
        for try await row in endorsementRows {
            let (hashBuffer, org, version, signature, at) = try row.decode((ByteBuffer, String, Int32, ByteBuffer, Date).self)
            endorsements[try LedgerHash(bytes(hashBuffer)), default: []].append(
                LedgerEndorsementRecord(org: try OrgCode(org), keyVersion: version, signature: bytes(signature), endorsedAt: at))
        }
        return try hashes.compactMap { hash in
            guard let row = found[hash] else { return nil }
            // Bytes that are no ledger document were written around the Store (raw SQL as the
            // owner, say): the verifier names them; a list leaves them out, a lookup says so.
            guard let transaction = try? LedgerTransaction(canonicalBytes: row.bytes) else {
                logger.warning("a stored ledger transaction is not a ledger document", metadata: ["tx_hash": "\(hash.hex)"])
                guard hashes.count > 1 else {
                    throw StoreError(
                        .conflict, "Ledger transaction \(hash.hex) is stored with bytes that are no ledger document; `orgmatrix ledger verify` names it.")
                }
                return nil
            }
            return LedgerTransactionRecord(
                hash: hash, canonicalBytes: row.bytes, transaction: transaction, transferID: row.transferID,
                status: row.status, endorsements: endorsements[hash] ?? [], blockNumber: row.block)
        }
    }

    /// The principal's org refuses the transaction, with its reason: it stops, and shows on the
    /// transfer. Only an org the policy asks, while the transaction is pending.
    public func disputeLedgerTransaction(hash: LedgerHash, reason: String) async throws -> LedgerTransactionRecord {
        try require(.endorse)
        let record = try await openTransaction(hash, "dispute it")
        try await connection.query(
            """
            INSERT INTO ledger_disputes (tenant_id, tx_hash, org_id, org_code, reason, principal_id)
            VALUES (\(principal.tenantID.rawValue), \(ByteBuffer(bytes: hash.bytes)), \(principal.orgID.rawValue), \(principal.orgCode.rawValue),
                \(reason), \(principal.principalID))
            """, logger: logger)
        try await audit("ledger.dispute", subject: hash.hex, detail: ["type": record.transaction.type.rawValue])
        return try await ledgerTransaction(hash: hash)!
    }

    /// The transaction, if it is pending and asks the principal's org for its endorsement.
    func openTransaction(_ hash: LedgerHash, _ action: String) async throws -> LedgerTransactionRecord {
        try await connection.query(
            "SELECT ledger_lock_transaction(\(principal.tenantID.rawValue), \(ByteBuffer(bytes: hash.bytes)))", logger: logger)
        guard let record = try await ledgerTransaction(hash: hash) else {
            throw StoreError(.notFound, "No ledger transaction \(hash.hex) in your sandbox.")
        }
        guard !record.transaction.role(of: principal.orgCode).isEmpty else {
            throw StoreError(.forbidden, "\(principal.orgCode) is not an endorser of this transaction; only the orgs its policy names \(action).")
        }
        switch record.status {
        case .pending: break
        case .committed: throw StoreError(.conflict, "The transaction is committed already; there is nothing to \(action.split(separator: " ").first!).")
        case .disputed(let org, let reason): throw StoreError(.conflict, "The transaction was disputed by \(org): \(reason)")
        }
        guard !record.endorsements.contains(where: { $0.org == principal.orgCode }) else {
            throw StoreError(.conflict, "\(principal.orgCode) has endorsed this transaction already.")
        }
        return record
    }

    /// Stores a verified endorsement of the principal's org and commits the transaction when it
    /// completes the policy.
    func storeEndorsement(_ record: LedgerTransactionRecord, keyVersion: Int32, signature: [UInt8]) async throws -> LedgerTransactionRecord {
        try await connection.query(
            """
            INSERT INTO ledger_endorsements (tenant_id, tx_hash, org_id, org_code, key_version, signature, principal_id)
            VALUES (\(principal.tenantID.rawValue), \(ByteBuffer(bytes: record.hash.bytes)), \(principal.orgID.rawValue), \(principal.orgCode.rawValue),
                \(keyVersion),
                \(ByteBuffer(bytes: signature)), \(principal.principalID))
            """, logger: logger)
        let endorsed = Set(record.endorsements.map(\.org) + [principal.orgCode])
        if record.transaction.isCommitted(byEndorsementsOf: endorsed) {
            try await connection.query(
                "INSERT INTO ledger_commits (tenant_id, tx_hash) VALUES (\(principal.tenantID.rawValue), \(ByteBuffer(bytes: record.hash.bytes)))",
                logger: logger)
        }
        try await audit("ledger.endorse", subject: record.hash.hex, detail: ["key_version": String(keyVersion)])
        return try await ledgerTransaction(hash: record.hash)!
    }
}

/// The bytes a bytea column held.
func bytes(_ buffer: ByteBuffer) -> [UInt8] { Array(buffer.readableBytesView) }

extension Sandbox {
    /// A client-held org's signature, submitted by a principal of that org: it counts only if it
    /// verifies over the canonical bytes with the org's key of `keyVersion`, and that key was
    /// valid at the transaction's time. Anything else is refused before anything is written.
    public func endorseLedgerTransaction(
        hash: LedgerHash, org: OrgCode, keyVersion: Int32, signatureDER: [UInt8]
    ) async throws -> LedgerTransactionRecord {
        try require(.endorse)
        guard org == principal.orgCode else {
            throw StoreError(.forbidden, "Only a principal of \(org) endorses for it; you act for \(principal.orgCode).", field: "org")
        }
        let record = try await openTransaction(hash, "endorse it")
        let signature = try await clientSignature(
            org: org, keyVersion: keyVersion, signatureDER: signatureDER, over: (record.canonicalBytes, "the transaction's canonical bytes"),
            validAt: (record.transaction.at, "at the transaction's time"))
        return try await storeEndorsement(record, keyVersion: keyVersion, signature: signature.derRepresentation)
    }

    /// A client-held org's signature, checked before anything is stored (an endorsement, a
    /// checkpoint's signature): made with its key version `keyVersion`, the one valid at the moment
    /// it signs for, not revoked since (a stolen laptop signs nothing more), verifying over the bytes.
    func clientSignature(
        org: OrgCode, keyVersion: Int32, signatureDER: [UInt8], over message: (bytes: [UInt8], name: String),
        validAt moment: (at: UTCMicros, name: String)
    ) async throws -> SM2Signature {
        let history = try await keys.history(of: .org(org))
        guard let key = history.versions.first(where: { $0.version == keyVersion }) else {
            throw StoreError(.conflict, "\(org) has no key version \(keyVersion).", field: "keyVersion")
        }
        guard history.valid(at: moment.at)?.version == keyVersion else {
            let until = history.validTo(version: keyVersion).map { " until \(UTCMicros($0))" } ?? ""
            throw StoreError(
                .conflict,
                "\(org)'s key version \(keyVersion) (valid from \(UTCMicros(key.validFrom))\(until)) was not valid \(moment.name), \(moment.at).",
                field: "keyVersion")
        }
        guard key.revocation == nil else {
            throw StoreError(.conflict, "\(org)'s key version \(keyVersion) is revoked: it signs nothing more.", field: "keyVersion")
        }
        // A signature that is not DER `SEQUENCE { r, s }` verifies no more than a wrong one does.
        guard let signature = try? SM2Signature(derRepresentation: signatureDER),
            (try? key.publicKey.isValidSignature(signature, for: message.bytes)) == true
        else {
            throw StoreError(
                .conflict,
                "The signature does not verify with \(org)'s key version \(keyVersion) over \(message.name) "
                    + "(SM2 with SM3 and the ID 1234567812345678).", field: "signature")
        }
        return signature
    }

    /// The principal's org endorses with its custodial key: the server signs for it, at the
    /// request of the org's own principal.
    public func approveLedgerTransaction(hash: LedgerHash) async throws -> LedgerTransactionRecord {
        try require(.endorse)
        let record = try await openTransaction(hash, "approve it")
        return try await signAsOwnOrg(record)
    }

    /// Signs `record` with the acting org's custodial key, which must be the key valid at the
    /// transaction's time (a key rotated since cannot speak for then).
    func signAsOwnOrg(_ record: LedgerTransactionRecord) async throws -> LedgerTransactionRecord {
        let history = try await keys.history(of: .org(principal.orgCode))
        guard let key = history.valid(at: record.transaction.at) else {
            throw StoreError(.conflict, "\(principal.orgCode) had no valid key at the transaction's time, \(record.transaction.at).")
        }
        guard key.custody == .custodial else {
            throw StoreError(
                .conflict,
                "\(principal.orgCode)'s key is client-held: sign the canonical bytes on your own machine and POST the signature to "
                    + "/v1/ledger/transactions/\(record.hash.hex)/endorsements.")
        }
        let signed = try await keys.sign(record.canonicalBytes, as: .org(principal.orgCode), masterKey: try masterKeyForSigning())
        guard signed.version == key.version else {
            throw StoreError(.conflict, "\(principal.orgCode)'s key was rotated since the transaction; version \(key.version) no longer signs.")
        }
        return try await storeEndorsement(record, keyVersion: signed.version, signature: signed.signature.derRepresentation)
    }

    /// Right after a posting: the acting org endorses the evidence of its own act when its key is
    /// custodial and the policy asks it (posting is its word). A client-held org endorses later.
    func endorseOwnPosting(_ record: LedgerTransactionRecord) async throws -> LedgerTransactionRecord {
        guard !record.transaction.role(of: principal.orgCode).isEmpty,
            let key = try await keys.history(of: .org(principal.orgCode)).valid(at: record.transaction.at), key.custody == .custodial
        else { return record }
        // A server without the master key still posts: the evidence waits for an approval.
        guard masterKey != nil else {
            logger.warning("no master key: the acting org's custodial key did not endorse its posting", metadata: ["tx_hash": "\(record.hash.hex)"])
            return record
        }
        return try await signAsOwnOrg(record)
    }
}

extension Sandbox {
    /// The master key private values are sealed and opened with.
    func masterKeyForPrivateValues() throws -> MasterKey {
        guard let masterKey else {
            throw StoreError(
                .conflict, "private values are sealed under the master key, and this server has none (\(Settings.masterKeyEnvironmentKey) is not set).",
                field: "private")
        }
        return masterKey
    }

    /// Salts each private value with 16 random bytes (secret: they keep the commitment from
    /// being guessed), refusing a value its field does not take.
    func salted(_ values: [LedgerPrivateField: JSONValue], in type: LedgerTransactionType) throws -> [LedgerPrivateValue] {
        try values.sorted { $0.key < $1.key }.map { field, value in
            guard field.isAllowed(in: type) else {
                throw StoreError(.invalid, "\(field.rawValue) is not a private field of \(type.rawValue)", field: "private.\(field.rawValue)")
            }
            let salt = SMCrypto.randomBytes(LedgerPrivateValue.saltByteCount)
            do throws(LedgerDocumentError) {
                return try LedgerPrivateValue(field: field, value: value, salt: salt)
            } catch {
                let (name, reason) = error.fieldAndReason
                throw StoreError(.invalid, "\(name): \(reason)", field: name)
            }
        }
    }

    /// A visible transaction's private values, opened: for its parties and HQ (`readPrivateValues`;
    /// the database shows the sealed rows to no one else), empty when it commits to none.
    public func privateValues(of hash: LedgerHash) async throws -> (record: LedgerTransactionRecord, values: [LedgerPrivateValue]) {
        try require(.readPrivateValues)
        guard let record = try await ledgerTransaction(hash: hash) else {
            throw StoreError(.notFound, "no ledger transaction \(hash.hex) in this sandbox")
        }
        let committed = record.transaction.privateCommitments
        guard !committed.isEmpty else { return (record, []) }
        let masterKey = try masterKeyForPrivateValues()
        let rows = try await sealedPrivateValues(of: [hash])
        guard !rows.isEmpty else {
            throw StoreError(.forbidden, "the private values of \(hash.hex) are for its parties and HQ's administrators")
        }
        let values = try await keys.openPrivateValues(rows, masterKey: masterKey)
        // What is stored must be what the parties signed: a value that is not its commitment is
        // refused, not shown with a commitment recomputed from it.
        for value in values where committed[value.field] != value.commitment {
            throw StoreError(
                .conflict, "the stored value of private.\(value.field.rawValue) of \(hash.hex) is not the one its transaction commits to",
                field: "private.\(value.field.rawValue)")
        }
        guard Set(values.map(\.field)) == Set(committed.keys) else {
            throw StoreError(.conflict, "\(hash.hex) does not hold a stored value for every private field it commits to")
        }
        // Who saw a contract price is the audit log's, in the transaction that showed it.
        try await audit(
            Self.privateValuesReadAction, subject: hash.hex,
            detail: ["fields": values.map(\.field.rawValue).sorted().joined(separator: ",")])
        return (record, values)
    }

    /// The audit log's actions for private values shown: one transaction's to a reader, and a
    /// ledger's to an export `--with-private`.
    public static let privateValuesReadAction = "ledger.private_values.read"
    public static let privateValuesExportAction = "ledger.private_values.export"

    /// The sealed private values of `hashes` the principal may read (Schema/0018), read whole
    /// before any is opened.
    func sealedPrivateValues(of hashes: [LedgerHash]) async throws -> [Keys.SealedPrivateValue] {
        try await connection.query(
            """
            SELECT tx_hash, field, data_key_version, sealed FROM ledger_private_values
            WHERE tenant_id = \(principal.tenantID.rawValue) AND tx_hash = ANY(\(hashes.map { ByteBuffer(bytes: $0.bytes) })::bytea[])
            ORDER BY tx_hash, field
            """, logger: logger
        ).collect().compactMap { row in
            let (hash, field, version, sealed) = try row.decode((ByteBuffer, String, Int32, ByteBuffer).self)
            guard let field = LedgerPrivateField(rawValue: field) else { return nil }
            return Keys.SealedPrivateValue(transaction: try LedgerHash(bytes(hash)), field: field, dataKeyVersion: version, sealed: bytes(sealed))
        }
    }

    /// The master key custodial signing unseals keys with.
    func masterKeyForSigning() throws -> MasterKey {
        guard let masterKey else {
            throw StoreError(
                .conflict,
                "\(principal.orgCode)'s key is custodial, and this server has no master key to sign with (\(Settings.masterKeyEnvironmentKey) is not set).")
        }
        return masterKey
    }
}

extension UTCMicros {
    /// The moment a database `timestamptz` decoded to, to the microsecond.
    init(_ date: Date) {
        self.init(microsecondsSinceEpoch: Int64((date.timeIntervalSince1970 * 1_000_000).rounded()))
    }
}
