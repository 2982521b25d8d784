import Foundation
import Logging
import NIOCore
import OrgMatrixCore
import PostgresNIO

/// The writes `tenant apply` (as the owner) and the API (as a principal) share, so both write
/// the same rows the same way; row-level security decides whether the caller may.
enum MatrixWrites {
    /// Inserts an org without reading it back (a new org lies outside a principal's visible set
    /// until it is placed in the hierarchy).
    static func insertOrg(_ org: Org, tenantID: TenantID, connection: PostgresConnection, logger: Logger) async throws {
        try await connection.query(
            """
            INSERT INTO orgs (tenant_id, code, name, kind, can_settle, can_fulfil, can_supervise, province_code, city_code,
                county_code, latitude_microdegrees, longitude_microdegrees)
            VALUES (\(tenantID.rawValue), \(org.code.rawValue), \(org.name), \(org.kind.rawValue),
                \(org.roles.contains(.settlement)), \(org.roles.contains(.fulfilment)), \(org.roles.contains(.supervisory)),
                \(org.location?.provinceCode), \(org.location?.cityCode), \(org.location?.countyCode),
                \(org.location?.latitudeMicrodegrees), \(org.location?.longitudeMicrodegrees))
            """, logger: logger)
    }

    /// Inserts a relation between two orgs (and a lane's carrier) whose ids the caller knows; returns its id.
    static func insertRelation(
        _ relation: Relation, fromID: Int64, toID: Int64, carrierID: Int64?, tenantID: TenantID, connection: PostgresConnection,
        logger: Logger
    ) async throws -> Int64 {
        try await connection.query(
            """
            INSERT INTO relations (tenant_id, kind, from_org_id, from_code, to_org_id, to_code, purpose, distance_km,
                lead_time_hours, markup_basis_points, carrier_org_id, carrier_code, valid_from)
            VALUES (\(tenantID.rawValue), \(relation.kind.rawValue), \(fromID), \(relation.from.rawValue), \(toID),
                \(relation.to.rawValue), \(relation.purpose?.rawValue), \(relation.distanceKm), \(relation.leadTimeHours),
                \(relation.markupBasisPoints), \(carrierID), \(relation.carrier?.rawValue), \(relation.validFrom))
            RETURNING relation_id
            """, logger: logger
        ).collect().first!.decode(Int64.self)
    }

    /// Revokes a principal and every key it has, at `moment`.
    static func revokePrincipal(id: Int64, at moment: Date, tenantID: TenantID, connection: PostgresConnection, logger: Logger) async throws {
        try await connection.query(
            "UPDATE principals SET revoked_at = \(moment) WHERE tenant_id = \(tenantID.rawValue) AND principal_id = \(id)",
            logger: logger)
        try await connection.query(
            """
            UPDATE api_keys SET revoked_at = \(moment)
            WHERE tenant_id = \(tenantID.rawValue) AND principal_id = \(id) AND revoked_at IS NULL
            """, logger: logger)
    }

    /// Who issues a new principal's key. The owner (`tenant apply`) writes api_keys directly; a
    /// principal (HQ through the API) only through app_issue_api_key, which checks it may and
    /// writes the audit event with the key (Schema/0008_row_authorship.sql).
    enum KeyIssuer {
        case owner
        case principal(requestID: String)
    }

    /// Creates a principal and its first key; returns the key, which exists nowhere else.
    static func createPrincipal(
        _ spec: PrincipalSpec, orgID: Int64, tenantID: TenantID, tenantCode: TenantCode, issuer: KeyIssuer, connection: PostgresConnection,
        logger: Logger
    ) async throws -> APIKey {
        let principalID = try await connection.query(
            """
            INSERT INTO principals (tenant_id, name, org_id, role)
            VALUES (\(tenantID.rawValue), \(spec.name.rawValue), \(orgID), \(spec.role.rawValue))
            RETURNING principal_id
            """, logger: logger
        ).collect().first!.decode(Int64.self)
        let key = APIKey.generate(tenant: tenantCode)
        switch issuer {
        case .owner:
            try await connection.query(
                """
                INSERT INTO api_keys (tenant_id, principal_id, org_id, key_hash)
                VALUES (\(tenantID.rawValue), \(principalID), \(orgID), \(ByteBuffer(bytes: key.hash)))
                """, logger: logger)
        case .principal(let requestID):
            try await connection.query(
                "SELECT app_issue_api_key(\(principalID), \(ByteBuffer(bytes: key.hash)), \(requestID))", logger: logger)
        }
        return key
    }
}
