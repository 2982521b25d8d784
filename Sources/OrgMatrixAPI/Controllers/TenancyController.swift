import Foundation
import Hummingbird
import OrgMatrixCore
import OrgMatrixStore

/// `/v1/me`, orgs, relations, principals and the audit log: the sandbox as the API shows it.
/// Every handler runs in one transaction opened by `Database.withSandbox`, so the database's
/// row-level security, not only these checks, decides what a key sees and writes.
struct TenancyController {
    let database: Database

    func register(on router: Router<AppRequestContext>) {
        let v1 = router.group("v1").add(middleware: BearerAuthMiddleware())
        v1.get("me") { request, context in try await database.sandbox(context) { try await me($0) } }
        v1.get("orgs") { request, context in try await database.sandbox(context) { try await listOrgs(request, $0) } }
        v1.post("orgs") { request, context in
            let body = try await request.decodeJSON(as: NewOrg.self, context: context)
            return try await createOrg(body, request, context)
        }
        v1.get("orgs/:code") { request, context in
            let code = try orgCode(context)
            return try await database.sandbox(context) { sandbox in
                guard let record = try await sandbox.org(code: code) else { throw notFound("org", code.rawValue) }
                return OrgView(record)
            }
        }
        v1.get("orgs/:code/visible") { request, context in
            let code = try orgCode(context)
            let moment = try asOf(request) ?? Date()
            return try await database.sandbox(context) { sandbox in
                guard let codes = try await sandbox.visibleSet(of: code, at: moment) else { throw notFound("org", code.rawValue) }
                return VisibleView(org: code.rawValue, asOf: moment, visibleOrgs: codes.map(\.rawValue))
            }
        }
        v1.get("relations") { request, context in
            let moment = try asOf(request)
            let org = try request.uri.queryParameters["org"].map { try OrgCode(String($0), field: "org") }
            return try await database.sandbox(context) { sandbox in
                if let org, try await sandbox.org(code: org) == nil { throw notFound("org", org.rawValue) }
                let records = try await sandbox.relations(at: moment, touching: org)
                return ListView(items: records.map(RelationView.init), nextCursor: nil)
            }
        }
        v1.post("relations") { request, context in
            let body = try await request.decodeJSON(as: NewRelation.self, context: context)
            let relation = try body.relation()
            let view = try await database.sandbox(context) { RelationView(try await $0.createRelation(relation)) }
            return EditedResponse(status: .created, response: view)
        }
        v1.post("relations/:id/end") { request, context in
            let id = try pathID(context)
            let body = try await decodeOptional(EndRelation.self, request, context)
            let moment = try body?.at.map { try parseTime($0, field: "at") } ?? Date()
            return try await database.sandbox(context) { RelationView(try await $0.endRelation(id: id, at: moment)) }
        }
        v1.post("principals") { request, context in
            let body = try await request.decodeJSON(as: NewPrincipal.self, context: context)
            let spec = try body.spec()
            let (record, key) = try await database.sandbox(context) { try await $0.createPrincipal(spec) }
            return EditedResponse(status: .created, response: CreatedPrincipalView(principal: PrincipalView(record), key: key.text))
        }
        v1.post("principals/:id/revoke") { request, context in
            let id = try pathID(context)
            return try await database.sandbox(context) { PrincipalView(try await $0.revokePrincipal(id: id, now: Date())) }
        }
        v1.get("audit-events") { request, context in
            let limit = try pageLimit(request)
            let cursor = try request.uri.queryParameters["cursor"].map { value in
                guard let number = Int64(String(value)), number >= 0 else {
                    throw APIError(.invalidField, detail: "cursor must be the nextCursor of a previous page.", field: "cursor")
                }
                return number
            }
            return try await database.sandbox(context) { sandbox in
                let events = try await sandbox.auditEvents(after: cursor, limit: limit)
                return ListView(items: events.map(AuditEventView.init), nextCursor: events.count == limit ? events.last.map { String($0.id) } : nil)
            }
        }
    }

    // MARK: handlers

    private func me(_ sandbox: Sandbox) async throws -> MeView {
        let visible = try await sandbox.orgs(after: nil, limit: PageLimits.maximumCount * 10)
        let principal = sandbox.principal
        return MeView(
            principal: principal.name, tenant: principal.tenantCode.rawValue, actingOrg: principal.orgCode.rawValue,
            role: principal.role.rawValue, canWrite: principal.role.canWrite, visibleOrgs: visible.map(\.org.code.rawValue))
    }

    private func listOrgs(_ request: Request, _ sandbox: Sandbox) async throws -> ListView<OrgView> {
        let limit = try pageLimit(request)
        let cursor = request.uri.queryParameters["cursor"].map(String.init)
        let records = try await sandbox.orgs(after: cursor, limit: limit)
        return ListView(items: records.map(OrgView.init), nextCursor: records.count == limit ? records.last?.org.code.rawValue : nil)
    }

    private func createOrg(_ body: NewOrg, _ request: Request, _ context: AppRequestContext) async throws -> EditedResponse<OrgView> {
        let (org, parent) = try body.org()
        let view = try await database.sandbox(context) { OrgView(try await $0.createOrg(org, reportingTo: parent)) }
        return EditedResponse(status: .created, response: view)
    }

    // MARK: plumbing

    private func orgCode(_ context: AppRequestContext) throws -> OrgCode {
        try OrgCode(context.parameters.get("code") ?? "", field: "code")
    }

    private func notFound(_ what: String, _ key: String) -> APIError {
        APIError(.notFound, detail: "No \(what) \(key) in your sandbox.")
    }

    private func asOf(_ request: Request) throws -> Date? {
        try request.uri.queryParameters["as_of"].map { try parseTime(String($0), field: "as_of") }
    }

    private func decodeOptional<T: Decodable>(_ type: T.Type, _ request: Request, _ context: AppRequestContext) async throws -> T? {
        guard let length = request.headers[.contentLength], length != "0" else { return nil }
        return try await request.decodeJSON(as: type, context: context)
    }
}

extension Database {
    /// Runs `body` in the request's sandboxed transaction (see `Database.withSandbox`).
    func sandbox<T: Sendable>(_ context: AppRequestContext, _ body: @Sendable @escaping (Sandbox) async throws -> T) async throws -> T {
        guard let key = context.apiKey else { throw APIError(.unauthenticated, detail: "No API key.") }
        return try await withSandbox(key: key, requestID: context.id, logger: context.logger, body)
    }
}

/// The `{id}` of a path: a positive integer, else 404 (an id that cannot exist is not there).
func pathID(_ context: AppRequestContext) throws -> Int64 {
    guard let text = context.parameters.get("id"), let id = Int64(text), id > 0 else { throw APIError(.notFound, detail: "No such id.") }
    return id
}

/// `?limit=` of a list: 1–`PageLimits.maximumCount`, default `PageLimits.defaultCount`.
func pageLimit(_ request: Request) throws -> Int {
    guard let text = request.uri.queryParameters["limit"] else { return PageLimits.defaultCount }
    guard let limit = Int(String(text)), (1...PageLimits.maximumCount).contains(limit) else {
        throw APIError(.invalidField, detail: "limit must be 1–\(PageLimits.maximumCount).", field: "limit")
    }
    return limit
}

func parseTime(_ text: String, field: String) throws -> Date {
    guard let date = try? Date(text, strategy: .iso8601) else {
        throw APIError(.invalidField, detail: "\(field) must be an ISO 8601 UTC time such as 2026-06-30T00:00:00Z.", field: field)
    }
    return date
}
