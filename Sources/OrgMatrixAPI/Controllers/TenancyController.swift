import Foundation
import Hummingbird
import OrgMatrixCore
import OrgMatrixStore

/// `/v1/me`, orgs, relations, principals and the audit log: the sandbox as the API shows it.
/// Every handler runs in one transaction opened by `Database.withSandbox`, so the database's
/// row-level security, not only these checks, decides what a key sees and writes.
struct TenancyController {
    let database: Database
    let bodyTimeout: Duration

    func register(on router: Router<AppRequestContext>) {
        let v1 = router.group("v1").add(middleware: BearerAuthMiddleware()).add(middleware: CollectBodyMiddleware(timeout: bodyTimeout))
        v1.get("me") { request, context in try await database.sandbox(context) { try await me($0) } }
        v1.get("orgs") { request, context in try await database.sandbox(context) { try await listOrgs(request, $0) } }
        v1.post("orgs") { request, context in
            let view = try await database.sandbox(context, may: .administer) { sandbox in
                let (org, parent) = try context.decodeJSON(as: NewOrg.self, request).org()
                return OrgView(try await sandbox.createOrg(org, reportingTo: parent))
            }
            return EditedResponse(status: .created, response: view)
        }
        v1.get("orgs/:code") { request, context in
            try await database.sandbox(context) { sandbox in
                let code = try orgCode(context)
                guard let record = try await sandbox.org(code: code) else { throw notFound("org", code.rawValue) }
                return OrgView(record)
            }
        }
        v1.get("orgs/:code/visible") { request, context in
            try await database.sandbox(context) { sandbox in
                let code = try orgCode(context)
                let moment = try asOf(request) ?? Date()
                guard let codes = try await sandbox.visibleSet(of: code, at: moment) else { throw notFound("org", code.rawValue) }
                return VisibleView(org: code.rawValue, asOf: moment, visibleOrgs: codes.map(\.rawValue))
            }
        }
        v1.get("relations") { request, context in
            try await database.sandbox(context) { sandbox in
                let moment = try asOf(request)
                let org = try request.query("org").map { try OrgCode($0, field: "org") }
                let limit = try pageLimit(request)
                if let org, try await sandbox.org(code: org) == nil { throw notFound("org", org.rawValue) }
                let records = try await sandbox.relations(at: moment, touching: org, after: try numericCursor(request), limit: limit)
                return ListView(items: records.map(RelationView.init), nextCursor: records.count == limit ? records.last.map { String($0.id) } : nil)
            }
        }
        v1.post("relations") { request, context in
            let view = try await database.sandbox(context, may: .administer) { sandbox in
                let relation = try context.decodeJSON(as: NewRelation.self, request).relation()
                return RelationView(try await sandbox.createRelation(relation))
            }
            return EditedResponse(status: .created, response: view)
        }
        v1.post("relations/:id/end") { request, context in
            try await database.sandbox(context, may: .administer) { sandbox in
                let id = try pathID(context)
                let body = context.hasBody ? try context.decodeJSON(as: EndRelation.self, request) : nil
                let moment = try body?.at.map { try Form.time($0, "at") } ?? Date()
                return RelationView(try await sandbox.endRelation(id: id, at: moment))
            }
        }
        v1.post("principals") { request, context in
            let (record, key) = try await database.sandbox(context, may: .administer) { sandbox in
                let spec = try context.decodeJSON(as: NewPrincipal.self, request).spec()
                return try await sandbox.createPrincipal(spec)
            }
            return EditedResponse(status: .created, response: CreatedPrincipalView(principal: PrincipalView(record), key: key.text))
        }
        v1.post("principals/:id/revoke") { request, context in
            try await database.sandbox(context, may: .administer) { sandbox in
                PrincipalView(try await sandbox.revokePrincipal(id: try pathID(context), now: Date()))
            }
        }
        v1.get("audit-events") { request, context in
            try await database.sandbox(context, may: .readAuditLog) { sandbox in
                let limit = try pageLimit(request)
                let events = try await sandbox.auditEvents(after: try numericCursor(request), limit: limit)
                return ListView(items: events.map(AuditEventView.init), nextCursor: events.count == limit ? events.last.map { String($0.id) } : nil)
            }
        }
    }

    // MARK: handlers

    private func me(_ sandbox: Sandbox) async throws -> MeView {
        let principal = sandbox.principal
        return MeView(
            principal: principal.name, tenant: principal.tenantCode.rawValue, actingOrg: principal.orgCode.rawValue,
            role: principal.role.rawValue, canWrite: principal.role.canWrite, visibleOrgs: try await sandbox.visibleOrgCodes().map(\.rawValue))
    }

    private func listOrgs(_ request: Request, _ sandbox: Sandbox) async throws -> ListView<OrgView> {
        let limit = try pageLimit(request)
        let cursor = try request.query("cursor").map { try OrgCode($0, field: "cursor") }
        let records = try await sandbox.orgs(after: cursor?.rawValue, limit: limit)
        return ListView(items: records.map(OrgView.init), nextCursor: records.count == limit ? records.last?.org.code.rawValue : nil)
    }

    // MARK: plumbing

    private func orgCode(_ context: AppRequestContext) throws -> OrgCode {
        try OrgCode(context.parameters.get("code") ?? "", field: "code")
    }

    private func notFound(_ what: String, _ key: String) -> APIError {
        APIError(.notFound, detail: "No \(what) \(key) in your sandbox.")
    }

    private func asOf(_ request: Request) throws -> Date? {
        try request.query("as_of").map { try Form.time($0, "as_of") }
    }
}

extension Database {
    /// Runs `body` in the request's sandboxed transaction (see `Database.withSandbox`), after
    /// authorizing `action`: authentication (401), then authorization (403), then whatever
    /// `body` parses and validates (400/413/415/422).
    func sandbox<T: Sendable>(
        _ context: AppRequestContext, may action: Action? = nil, _ body: @Sendable @escaping (Sandbox) async throws -> T
    ) async throws -> T {
        guard let key = context.apiKey else { throw APIError(.unauthenticated, detail: "No API key.") }
        return try await withSandbox(key: key, requestID: context.id, logger: context.logger) { sandbox in
            var sandbox = sandbox
            if let action { sandbox = try await sandbox.authorized(action) }
            if case .tooLarge = context.body {
                throw APIError(.bodyTooLarge, detail: "The body exceeds \(context.maxUploadSize) bytes.")
            }
            return try await body(sandbox)
        }
    }
}

/// `?cursor=` of a list ordered by a numeric id: the `nextCursor` of the previous page.
func numericCursor(_ request: Request) throws -> Int64? {
    try request.query("cursor").map { text in
        guard let value = Int64(text), value >= 0 else {
            throw APIError(.invalidField, detail: "cursor must be the nextCursor of a previous page.", field: "cursor")
        }
        return value
    }
}

/// The `{id}` of a path: a positive integer, else 404 (an id that cannot exist is not there).
func pathID(_ context: AppRequestContext) throws -> Int64 {
    guard let text = context.parameters.get("id"), let id = Int64(text), id > 0 else { throw APIError(.notFound, detail: "No such id.") }
    return id
}

/// `?limit=` of a list: 1–`PageLimits.maximumCount`, default `PageLimits.defaultCount`.
func pageLimit(_ request: Request) throws -> Int {
    guard let text = try request.query("limit") else { return PageLimits.defaultCount }
    guard let limit = Int(text), (1...PageLimits.maximumCount).contains(limit) else {
        throw APIError(.invalidField, detail: "limit must be 1–\(PageLimits.maximumCount).", field: "limit")
    }
    return limit
}
