import Foundation
import OrgMatrixStore
import PostgresNIO

extension TenantFixture {
    /// Every way this tenant's books disagree with themselves, read as the owner: a balance
    /// whose on-hand or value differs from the sum of its moves, or whose in-transit differs
    /// from the lines of its dispatched, unreceived transfers; a received transfer whose lines
    /// did not arrive as sent − lost. Empty when the books are consistent.
    public func booksInconsistencies() async throws -> [String] {
        let environment = try await SharedDatabase.environment()
        return try await withConnection(environment.ownerURL) { connection in
            var problems: [String] = []
            let balances = try await connection.query(
                """
                WITH b AS (SELECT org_id, item_id, on_hand_scaled, in_transit_scaled, value_fen FROM stock_balances WHERE tenant_id = \(tenantID.rawValue)),
                m AS (SELECT org_id, item_id, sum(quantity_scaled) AS q, sum(value_fen) AS v FROM stock_moves
                      WHERE tenant_id = \(tenantID.rawValue) GROUP BY org_id, item_id),
                t AS (SELECT l.from_org_id AS org_id, l.item_id, sum(l.quantity_scaled) AS q
                      FROM transfers x JOIN transfer_lines l ON l.tenant_id = x.tenant_id AND l.transfer_id = x.transfer_id
                      WHERE x.tenant_id = \(tenantID.rawValue) AND x.status = 'dispatched' GROUP BY l.from_org_id, l.item_id)
                SELECT coalesce(b.org_id, m.org_id)::text || '/' || coalesce(b.item_id, m.item_id)::text,
                    coalesce(b.on_hand_scaled, 0)::text, coalesce(m.q, 0)::text, coalesce(b.value_fen, 0)::text, coalesce(m.v, 0)::text,
                    coalesce(b.in_transit_scaled, 0)::text, coalesce(t.q, 0)::text
                FROM b FULL JOIN m ON m.org_id = b.org_id AND m.item_id = b.item_id
                LEFT JOIN t ON t.org_id = coalesce(b.org_id, m.org_id) AND t.item_id = coalesce(b.item_id, m.item_id)
                WHERE coalesce(b.on_hand_scaled, 0) <> coalesce(m.q, 0) OR coalesce(b.value_fen, 0) <> coalesce(m.v, 0)
                   OR coalesce(b.in_transit_scaled, 0) <> coalesce(t.q, 0)
                """, logger: testLogger)
            for try await (key, onHand, moved, value, movedValue, inTransit, shipped) in balances.decode(
                (String, String, String, String, String, String, String).self)
            {
                problems.append(
                    "balance \(key): on hand \(onHand) vs moves \(moved), value \(value) vs moves \(movedValue), in transit \(inTransit) vs shipped \(shipped)")
            }
            let transfers = try await connection.query(
                """
                SELECT x.transfer_id
                FROM transfers x JOIN transfer_lines l ON l.tenant_id = x.tenant_id AND l.transfer_id = x.transfer_id
                LEFT JOIN (SELECT document_id, item_id, sum(quantity_scaled) AS q FROM stock_moves
                           WHERE tenant_id = \(tenantID.rawValue) AND document_type = 'transfer_receipt' GROUP BY document_id, item_id) r
                    ON r.document_id = x.transfer_id AND r.item_id = l.item_id
                WHERE x.tenant_id = \(tenantID.rawValue) AND x.status = 'received' AND coalesce(r.q, 0) <> l.quantity_scaled - l.lost_scaled
                """, logger: testLogger)
            for try await id in transfers.decode(Int64.self) { problems.append("transfer \(id): received ≠ sent − lost") }
            return problems
        }
    }
}
