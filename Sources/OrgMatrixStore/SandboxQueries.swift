import Foundation
import NIOCore
import OrgMatrixCore
import PostgresNIO

/// A principal as stored.
public struct PrincipalRecord: Sendable, Hashable {
    public let id: Int64
    public let name: String
    public let orgCode: OrgCode
    public let role: PrincipalRole
    public let createdAt: Date
    public let revokedAt: Date?
}

/// One line of the audit log.
public struct AuditEvent: Sendable, Hashable {
    public let id: Int64
    public let occurredAt: Date
    public let actor: String
    public let orgCode: OrgCode
    public let requestID: String?
    public let action: String
    public let subject: String
    public let detail: String
}

/// Page sizes: a default and a ceiling, so no list can grow without bound.
public enum PageLimits {
    public static let defaultCount = 100
    public static let maximumCount = 1000
}

extension Sandbox {
    /// Fails with 403 unless the principal's role may do `action`; the database checks again.
    public func require(_ action: Action) throws {
        guard principal.role.may(action) else {
            throw StoreError(.forbidden, "The \(principal.role.rawValue) role may not \(action).")
        }
    }

    /// `require`, and for postings an acting org that holds stock: everything that decides 403,
    /// so the API can answer it before it reads the body. The sandbox it returns remembers the
    /// org's kind, so the Store's own check costs no second query.
    public func authorized(_ action: Action) async throws -> Sandbox {
        try require(action)
        guard action == .postDocuments, !holdsStock else { return self }
        guard let org = try await org(code: principal.orgCode), org.org.kind == .physical else {
            throw StoreError(.forbidden, "\(principal.orgCode) holds no stock: only physical orgs post stock documents.")
        }
        var checked = self
        checked.holdsStock = true
        return checked
    }

    /// `authorized`, for a Store method that goes on with this sandbox.
    func authorize(_ action: Action) async throws {
        _ = try await authorized(action)
    }

    public func orgs(after cursor: String?, limit: Int) async throws -> [OrgRecord] {
        let rows = try await connection.query(
            """
            SELECT org_id, code, name, kind, can_settle, can_fulfil, can_supervise, province_code, city_code, county_code,
                latitude_microdegrees, longitude_microdegrees
            FROM orgs WHERE tenant_id = \(principal.tenantID.rawValue) AND code > \(cursor ?? "")
            ORDER BY code LIMIT \(limit)
            """, logger: logger)
        var records: [OrgRecord] = []
        for try await row in rows { records.append(try OrgRecord(row: row)) }
        return records
    }

    /// The org if it is inside the sandbox; nil otherwise (outside and absent look the same).
    public func org(code: OrgCode) async throws -> OrgRecord? {
        let rows = try await connection.query(
            """
            SELECT org_id, code, name, kind, can_settle, can_fulfil, can_supervise, province_code, city_code, county_code,
                latitude_microdegrees, longitude_microdegrees
            FROM orgs WHERE tenant_id = \(principal.tenantID.rawValue) AND code = \(code.rawValue)
            """, logger: logger
        ).collect()
        return try rows.first.map(OrgRecord.init(row:))
    }

    /// What `code` could see at `moment`, if the principal's org could see `code` then.
    public func visibleSet(of code: OrgCode, at moment: Date) async throws -> [OrgCode]? {
        let rows = try await connection.query(
            "SELECT app_visible_set_as_of(\(code.rawValue), \(moment))", logger: logger
        ).collect()
        guard let codes = try rows.first?.decode([String]?.self) else { return nil }
        return try codes.map { try OrgCode($0) }
    }

    /// Every relation touching the sandbox valid at `moment` (every one ever stored when nil),
    /// optionally only those touching `org`: what validation and pricing read, the whole matrix.
    public func relations(at moment: Date?, touching org: OrgCode?) async throws -> [RelationRecord] {
        try await relations(at: moment, touching: org, after: nil, limit: nil)
    }

    /// A page of those relations in id order after `cursor`; no limit reads them all.
    public func relations(at moment: Date?, touching org: OrgCode?, after cursor: Int64?, limit: Int?) async throws -> [RelationRecord] {
        let rows = try await connection.query(
            """
            SELECT relation_id, kind, from_code, to_code, purpose, distance_km, lead_time_hours, markup_basis_points, valid_from, valid_to,
                carrier_code
            FROM relations
            WHERE tenant_id = \(principal.tenantID.rawValue) AND relation_id > \(cursor ?? 0)
              AND (\(moment)::timestamptz IS NULL OR (valid_from <= \(moment) AND (valid_to IS NULL OR \(moment) < valid_to)))
              AND (\(org?.rawValue)::text IS NULL OR from_code = \(org?.rawValue) OR to_code = \(org?.rawValue))
            ORDER BY relation_id LIMIT \(limit)
            """, logger: logger)
        var records: [RelationRecord] = []
        for try await row in rows { records.append(try RelationRecord(row: row)) }
        return records
    }

    /// Every org of the sandbox, in code order: the whole matrix a change is validated against.
    func allOrgs() async throws -> [OrgRecord] {
        var all: [OrgRecord] = []
        var cursor: String?
        while true {
            let page = try await orgs(after: cursor, limit: PageLimits.maximumCount)
            all += page
            guard page.count == PageLimits.maximumCount, let last = page.last else { return all }
            cursor = last.org.code.rawValue
        }
    }

    /// The codes of the orgs the principal can see, in code order.
    public func visibleOrgCodes() async throws -> [OrgCode] {
        try await allOrgs().map(\.org.code)
    }

    /// A new org placed under `parent` from the transaction's start on (an org outside the
    /// hierarchy would be invisible to HQ). HQ administers the matrix.
    public func createOrg(_ org: Org, reportingTo parent: OrgCode) async throws -> OrgRecord {
        try require(.administer)
        try await lockMatrix()
        guard try await self.org(code: parent) != nil else {
            throw StoreError(.notFound, "No org \(parent) in your sandbox.", field: "reportsTo")
        }
        if try await connection.query(
            "SELECT 1 FROM orgs WHERE tenant_id = \(principal.tenantID.rawValue) AND code = \(org.code.rawValue)", logger: logger
        ).collect().first != nil {
            throw StoreError(.conflict, "An org with code \(org.code) exists already.", field: "code")
        }
        try await MatrixWrites.insertOrg(org, tenantID: principal.tenantID, connection: connection, logger: logger)
        try await connection.query(
            "SELECT app_place_new_org(\(org.code.rawValue), \(parent.rawValue), now())", logger: logger)
        // Re-establish the context so that it includes the new org.
        try await connection.query("SELECT 1 FROM app_begin(\(key.tenant.rawValue), \(ByteBuffer(bytes: key.hash)))", logger: logger)
        try await audit("org.create", subject: org.code.rawValue, detail: ["name": org.name, "reports_to": parent.rawValue])
        guard let record = try await self.org(code: org.code) else { throw StoreError(.conflict, "The new org could not be read back.") }
        return record
    }

    /// A new relation, checked against the whole matrix (kinds, roles, overlaps, no cycles).
    public func createRelation(_ relation: Relation) async throws -> RelationRecord {
        try require(.administer)
        try await lockMatrix()
        let record = try await insertRelation(relation)
        try await audit(
            "relation.create", subject: "\(relation.kind.rawValue) \(relation.from)→\(relation.to)",
            detail: ["relation_id": String(record.id)])
        return record
    }

    /// Ends a relation at `moment` (never deletes it).
    public func endRelation(id: Int64, at moment: Date) async throws -> RelationRecord {
        try require(.administer)
        try await lockMatrix()
        guard let current = try await relations(at: nil, touching: nil).first(where: { $0.id == id }) else {
            throw StoreError(.notFound, "No relation \(id) in your sandbox.")
        }
        guard current.relation.validTo == nil else { throw StoreError(.conflict, "Relation \(id) has already ended.") }
        guard moment > current.relation.validFrom else {
            throw StoreError(.conflict, "Relation \(id) starts at \(current.relation.validFrom.formatted(.iso8601)); it must end after it starts.", field: "at")
        }
        try await connection.query(
            "UPDATE relations SET valid_to = \(moment) WHERE tenant_id = \(principal.tenantID.rawValue) AND relation_id = \(id)",
            logger: logger)
        try await audit("relation.end", subject: String(id), detail: ["at": moment.formatted(.iso8601)])
        var ended = current.relation
        ended.validTo = moment
        return RelationRecord(id: id, relation: ended)
    }

    public func createPrincipal(_ spec: PrincipalSpec) async throws -> (PrincipalRecord, APIKey) {
        try require(.administer)
        guard let org = try await org(code: spec.org) else { throw StoreError(.notFound, "No org \(spec.org) in your sandbox.", field: "org") }
        let headquarters = try await headquartersCode()
        let problems = TenantDefinition.roleProblems(spec, org: org.org, headquarters: headquarters, field: "body")
        if let problem = problems.first { throw StoreError(.conflict, problem.reason, field: "org") }
        if try await principal(named: spec.name.rawValue) != nil {
            throw StoreError(.conflict, "A principal named \(spec.name) exists already.", field: "name")
        }
        let key = try await MatrixWrites.createPrincipal(
            spec, orgID: org.id.rawValue, tenantID: principal.tenantID, tenantCode: principal.tenantCode,
            issuer: .principal(requestID: requestID), connection: connection, logger: logger)
        try await audit("principal.create", subject: spec.name.rawValue, detail: ["org": spec.org.rawValue, "role": spec.role.rawValue])
        return (try await principal(named: spec.name.rawValue)!, key)
    }

    public func revokePrincipal(id: Int64, now: Date) async throws -> PrincipalRecord {
        try require(.administer)
        guard let record = try await principals().first(where: { $0.id == id }) else {
            throw StoreError(.notFound, "No principal \(id) in your sandbox.")
        }
        guard record.revokedAt == nil else { throw StoreError(.conflict, "Principal \(id) is revoked already.") }
        if record.role == .hqAdmin {
            // One revocation at a time, so two admins cannot revoke each other into a locked-out tenant.
            try await lockMatrix()
            let others = try await principals().filter { $0.role == .hqAdmin && $0.revokedAt == nil && $0.id != id }
            guard !others.isEmpty else {
                throw StoreError(.conflict, "\(record.name) is the tenant's last active hq_admin; create another before revoking it.")
            }
        }
        try await MatrixWrites.revokePrincipal(id: id, at: now, tenantID: principal.tenantID, connection: connection, logger: logger)
        try await audit("principal.revoke", subject: record.name, detail: [:])
        return PrincipalRecord(
            id: record.id, name: record.name, orgCode: record.orgCode, role: record.role, createdAt: record.createdAt, revokedAt: now)
    }

    public func principals() async throws -> [PrincipalRecord] {
        let rows = try await connection.query(
            """
            SELECT p.principal_id, p.name, o.code, p.role, p.created_at, p.revoked_at
            FROM principals p JOIN orgs o ON o.tenant_id = p.tenant_id AND o.org_id = p.org_id
            WHERE p.tenant_id = \(principal.tenantID.rawValue) ORDER BY p.principal_id
            """, logger: logger)
        var records: [PrincipalRecord] = []
        for try await (id, name, code, role, created, revoked) in rows.decode((Int64, String, String, String, Date, Date?).self) {
            records.append(PrincipalRecord(
                id: id, name: name, orgCode: try OrgCode(code), role: PrincipalRole(rawValue: role)!, createdAt: created, revokedAt: revoked))
        }
        return records
    }

    public func auditEvents(after cursor: Int64?, limit: Int) async throws -> [AuditEvent] {
        try require(.readAuditLog)
        let rows = try await connection.query(
            """
            SELECT e.event_id, e.occurred_at, e.actor, o.code, e.request_id, e.action, e.subject, e.detail::text
            FROM audit_events e JOIN orgs o ON o.tenant_id = e.tenant_id AND o.org_id = e.org_id
            WHERE e.tenant_id = \(principal.tenantID.rawValue) AND e.event_id > \(cursor ?? 0)
            ORDER BY e.event_id LIMIT \(limit)
            """, logger: logger)
        var events: [AuditEvent] = []
        for try await (id, at, actor, code, requestID, action, subject, detail) in rows.decode(
            (Int64, Date, String, String, String?, String, String, String).self)
        {
            events.append(AuditEvent(
                id: id, occurredAt: at, actor: actor, orgCode: try OrgCode(code), requestID: requestID, action: action, subject: subject,
                detail: detail))
        }
        return events
    }

    /// Appends to the audit log in the same transaction as the write it records. The database
    /// binds tenant, org and principal to the signed context, names the actor after the principal
    /// and stamps the time itself (Schema/0008_row_authorship.sql).
    public func audit(_ action: String, subject: String, detail: [String: String]) async throws {
        let json = String(decoding: try JSONSerialization.data(withJSONObject: detail, options: [.sortedKeys]), as: UTF8.self)
        try await connection.query(
            """
            INSERT INTO audit_events (tenant_id, principal_id, actor, org_id, request_id, action, subject, detail)
            VALUES (\(principal.tenantID.rawValue), \(principal.principalID), \(principal.name), \(principal.orgID.rawValue),
                \(requestID), \(action), \(subject), \(json)::jsonb)
            """, logger: logger)
    }

    // MARK: private

    private func principal(named name: String) async throws -> PrincipalRecord? {
        try await principals().first { $0.name == name && $0.revokedAt == nil }
    }

    /// Matrix changes in one tenant happen one at a time, so two cannot together form a cycle.
    private func lockMatrix() async throws {
        try await connection.query(
            "SELECT pg_advisory_xact_lock(hashtext('orgmatrix.matrix'), hashtext(\(principal.tenantID.description)))", logger: logger)
    }

    private func headquartersCode() async throws -> OrgCode {
        let all = try await allOrgs()
        let relations = try await relations(at: Date(), touching: nil)
        let children = Set(relations.filter { $0.relation.kind == .reportsTo }.map(\.relation.from))
        return all.first { !children.contains($0.org.code) }?.org.code ?? principal.orgCode
    }

    private func insertRelation(_ relation: Relation) async throws -> RelationRecord {
        var orgs: [Org] = []
        var ids: [OrgCode: Int64] = [:]
        for record in try await allOrgs() {
            orgs.append(record.org)
            ids[record.org.code] = record.id.rawValue
        }
        for (field, code) in [("from", relation.from), ("to", relation.to)] + (relation.carrier.map { [("carrier", $0)] } ?? [])
        where ids[code] == nil {
            throw StoreError(.notFound, "No org \(code) in your sandbox.", field: field)
        }
        let existing = try await relations(at: nil, touching: nil).map(\.relation)
        let problems = OrgMatrix(orgs: orgs, relations: existing + [relation]).problems()
        if let problem = problems.first {
            let prefix = "relations[\(existing.count)]"
            let field = problem.field.hasPrefix(prefix + ".") ? String(problem.field.dropFirst(prefix.count + 1)) : "body"
            throw StoreError(.conflict, problem.reason, field: field)
        }
        let id = try await MatrixWrites.insertRelation(
            relation, fromID: ids[relation.from]!, toID: ids[relation.to]!, carrierID: relation.carrier.map { ids[$0]! },
            tenantID: principal.tenantID, connection: connection, logger: logger)
        return RelationRecord(id: id, relation: relation)
    }
}
