import OrgMatrixCore

/// The pgbench side of `orgmatrix-bench postings`: one pgbench transaction is one transfer
/// dispatched by its sender and then received by its receiver, statement for statement what the
/// Store sends for `POST /v1/transfers/{id}/dispatch` and `/receive` (Transfers.swift), in the
/// same two database transactions, as the same `NOBYPASSRLS` role under the same policies and
/// triggers.
///
/// pgbench cannot run Swift, so the figures are Core's, computed beforehand and passed in as
/// variables: the dispatch is Core's dispatch of the transfers' lines from balances at the
/// moving average they were priced at, and each receiver's receipt is Core's receipt of what the
/// API's transfer to that receiver reported (transfers on one lane are alike); the responses kept
/// under the Idempotency-Keys are the API's. The script holds no formula: it only binds them.
/// The statements are the Store's, in its order, so they read and lock the same rows; the
/// benchmark checks the rows written, table by table, in PostgreSQL's own counts, and prints the
/// scans beside them.
struct PostingsScript {
    /// The lines' items, in line order.
    let itemIDs: [Int64]
    /// Core's dispatch of the lines.
    let dispatch: TransferEvent.Dispatched
    /// Core's receipt, one per receiver, in the order of the receivers' keys (`receiver0`…).
    let receipts: [TransferEvent.Received]
    /// Whether the sender's code sorts before every receiver's: the Store then marks a transfer
    /// received (the database's moves release the sender's in-transit) before the receiver's
    /// moves add to its balances.
    let senderFirst: Bool
    /// The request hash and response the API kept under each step's Idempotency-Key.
    let dispatchResponse: (hash: String, body: String)
    let receiptResponse: (hash: String, body: String)

    /// Variables pgbench needs with `-D`, besides the keys (`sender`, `receiver0`…) and the
    /// transfer numbering (`first`, `clients`, `n`). Per-line values are PostgreSQL array
    /// literals, bound as one parameter each the way the Store binds its arrays.
    var variables: [String: String] {
        func array(_ values: [Int64]) -> String { "{" + values.map(String.init).joined(separator: ",") + "}" }
        func texts(_ values: [String]) -> String { "{" + values.joined(separator: ",") + "}" }
        // A dispatch's moves, as the Store orders them: every line off on hand (out of stock: the
        // signs are the moves' directions), then every line into transit at the same value.
        let quantities = dispatch.order.lines.map(\.goods.scaledQuantity)
        let issued = dispatch.lines.map(\.issueValueFen)
        let units = dispatch.lines.map(\.issueUnitCostFen)
        var values: [String: String] = [
            "dispatchhash": dispatchResponse.hash, "dispatchbody": dispatchResponse.body,
            "receipthash": receiptResponse.hash, "receiptbody": receiptResponse.body,
            "items": array(itemIDs), "dispatchitems": array(itemIDs + itemIDs),
            "outquantities": array(quantities.map { -$0 } + quantities), "outvalues": array(issued.map { -$0 } + issued),
            "outunits": array(units + units),
            "outbuckets": texts(itemIDs.map { _ in "on_hand" } + itemIDs.map { _ in "in_transit" }),
            "inbuckets": texts(itemIDs.map { _ in "on_hand" }),
        ]
        for (receiver, receipt) in receipts.enumerated() {
            let lines = receipt.lines
            let perReceiver: [String: String] = [
                "lost": array(lines.map(\.lostScaled)), "allowances": array(lines.map(\.allowanceScaled)), "claims": array(lines.map(\.claimScaled)),
                "claimvalues": array(lines.map(\.claimValueFen)), "landed": array(lines.map(\.landedValueFen)),
                "arrived": array(lines.map(\.arrivedScaled)), "landedunits": array(lines.map(\.landedUnitCostFen)),
                "freight": String(receipt.actualFreightFen), "insurance": String(receipt.actualInsuranceFen), "actual": String(receipt.actualTotalFen),
                "error": receipt.errorPartsPerMillion.map(String.init) ?? "", "flagged": String(receipt.flagged),
            ]
            for (name, value) in perReceiver { values[name + String(receiver)] = value }
        }
        return values
    }

    /// The pgbench script. Client `c`'s `n`-th transaction handles transfer `first + 2k + 1` with
    /// `k = c + clients·n`: the odd ones of the interleaved block (the API takes the even ones),
    /// sent to receiver `k mod receivers`.
    var text: String {
        var script = [
            "\\set n :n + 1",
            "\\set k :client_id + :clients * :n",
            "\\set transfer :first + 2 * :k + 1",
            "\\set receiver :k % \(receipts.count)",
            "BEGIN;",
            begin(key: ":sender", prefix: "s_"),
        ]
        script += idempotencyCheck("s_", step: "dispatch")
        script += ownTransfer("s_")
        script += [
            audit("s_", action: "transfer.dispatch", detail: "{}"),
            "SELECT item_id, on_hand_scaled, value_fen FROM app_lock_balances(:items::bigint[]);",
            insertMoves(
                "s_", items: ":dispatchitems", quantities: ":outquantities", values: ":outvalues", units: ":outunits",
                buckets: ":outbuckets", document: "transfer_dispatch"),
            """
            UPDATE transfers SET status = 'dispatched', dispatched_at = now() \
            WHERE tenant_id = :s_tenant_id AND transfer_id = :transfer;
            """,
        ]
        script += evidence("s_", type: "transfer.dispatched")
        script += [
            idempotencyRecord("s_", step: "dispatch", hash: ":dispatchhash", body: ":dispatchbody"),
            "COMMIT;",
            "BEGIN;",
        ]
        script += perReceiver { [begin(key: ":receiver\($0)", prefix: "r_")] }
        script += idempotencyCheck("r_", step: "receive")
        script += ownTransfer("r_")
        script.append("SELECT body::text FROM pricing_rules WHERE tenant_id = :r_tenant_id ORDER BY effective_from;")
        script += perReceiver { r in
            [
                """
                UPDATE transfer_lines l SET lost_scaled = b.lost, allowance_scaled = b.allowance, claim_scaled = b.claim, \
                claim_value_fen = b.claim_value, landed_value_fen = b.landed \
                FROM unnest(:lost\(r)::bigint[], :allowances\(r)::bigint[], :claims\(r)::bigint[], :claimvalues\(r)::bigint[], \
                :landed\(r)::bigint[]) WITH ORDINALITY AS b (lost, allowance, claim, claim_value, landed, line_no) \
                WHERE l.tenant_id = :r_tenant_id AND l.transfer_id = :transfer AND l.line_no = b.line_no;
                """
            ]
        }
        script.append(audit("r_", action: "transfer.receive", detail: #"{"actual_fen": "0", "error_ppm": "0"}"#))
        let markReceived = perReceiver { r in
            [
                """
                UPDATE transfers SET status = 'received', received_at = now(), actual_freight_fen = :freight\(r), \
                actual_insurance_fen = :insurance\(r), actual_total_fen = :actual\(r), error_ppm = :error\(r), flagged = :flagged\(r) \
                WHERE tenant_id = :r_tenant_id AND transfer_id = :transfer;
                """
            ]
        }
        if senderFirst { script += markReceived }
        script += perReceiver { r in
            [
                insertMoves(
                    "r_", items: ":items", quantities: ":arrived\(r)", values: ":landed\(r)", units: ":landedunits\(r)",
                    buckets: ":inbuckets", document: "transfer_receipt")
            ]
        }
        if !senderFirst { script += markReceived }
        script += evidence("r_", type: "transfer.received")
        script += [idempotencyRecord("r_", step: "receive", hash: ":receipthash", body: ":receiptbody"), "COMMIT;"]
        return script.joined(separator: "\n") + "\n"
    }

    /// The step's ledger transaction, as the Store writes it (Schema/0013 refuses the step
    /// without it): its endorsers, the ledger settings, the key of the acting org (the API side
    /// runs without a master key, so it signs nothing either), then the row. Its bytes stand in for
    /// the canonical document, whose `at` only the API's own transaction knows: the same row,
    /// not the same text.
    private func evidence(_ prefix: String, type: String) -> [String] {
        [
            "SELECT sender, receiver, sender_settlement, receiver_settlement, carrier FROM app_transfer_endorsers(:transfer);",
            """
            SELECT hq_code, policies::text FROM ledger_settings \
            WHERE tenant_id = :\(prefix)tenant_id AND effective_from <= now() ORDER BY version DESC LIMIT 1;
            """,
            "SELECT (extract(epoch FROM now()) * 1000000)::bigint;",
            """
            INSERT INTO ledger_transactions (tenant_id, tx_hash, tx_type, at, canonical, endorser_org_ids, transfer_id, principal_id) \
            SELECT :\(prefix)tenant_id, sha256(convert_to(gen_random_uuid()::text, 'UTF8')), '\(type)', now(), \
            convert_to(repeat('x', 1500), 'UTF8'), app_org_ids(ARRAY[e.sender, e.receiver]), :transfer, :\(prefix)principal_id \
            FROM app_transfer_endorsers(:transfer) e;
            """,
            "SELECT version, custody FROM org_keys WHERE tenant_id = :\(prefix)tenant_id AND owner = :\(prefix)org_code ORDER BY version;",
        ]
    }

    /// pgbench cannot pick a string variable by number, so each receiver gets its own branch.
    private func perReceiver(_ statements: (Int) -> [String]) -> [String] {
        receipts.indices.flatMap { r in [r == 0 ? "\\if :receiver = 0" : "\\elif :receiver = \(r)"] + statements(r) } + ["\\endif"]
    }

    /// `withSandbox`: the key's principal, its tenant and org, as `\gset` variables.
    private func begin(key: String, prefix: String) -> String {
        "SELECT tenant_id, principal_id, principal_name, org_id, org_code, role FROM app_begin(:tenant, \(key)) \\gset \(prefix)"
    }

    /// `idempotent(key:…)`: the key's advisory lock, then any response kept under it.
    private func idempotencyCheck(_ prefix: String, step: String) -> [String] {
        [
            """
            SELECT pg_advisory_xact_lock(hashtext(:\(prefix)tenant_id), hashtext(:\(prefix)principal_id || '/bench-' || :transfer || '-\(step)'));
            """,
            """
            SELECT request_hash, response_status, response_body FROM idempotency_keys \
            WHERE tenant_id = :\(prefix)tenant_id AND principal_id = :\(prefix)principal_id \
            AND idempotency_key = 'bench-' || :transfer || '-\(step)';
            """,
        ]
    }

    /// The response kept under the key, in the posting's transaction.
    private func idempotencyRecord(_ prefix: String, step: String, hash: String, body: String) -> String {
        """
        INSERT INTO idempotency_keys (tenant_id, principal_id, idempotency_key, org_id, request_hash, response_status, response_body) \
        VALUES (:\(prefix)tenant_id, :\(prefix)principal_id, 'bench-' || :transfer || '-\(step)', :\(prefix)org_id, \(hash), 200, \(body));
        """
    }

    /// `authorized` and `lockedTransfer`: the principal's org, the header with its lane locked,
    /// the lines with their items.
    private func ownTransfer(_ prefix: String) -> [String] {
        [
            """
            SELECT org_id, code, name, kind, can_settle, can_fulfil, can_supervise, province_code, city_code, county_code, \
            latitude_microdegrees, longitude_microdegrees FROM orgs WHERE tenant_id = :\(prefix)tenant_id AND code = :\(prefix)org_code;
            """,
            """
            SELECT t.from_code, t.to_code, t.status, t.rules_version, t.estimate_total_fen, t.actual_freight_fen, t.actual_insurance_fen, \
            t.actual_total_fen, t.error_ppm, t.flagged, t.true_up_fen, t.claim_recovered_fen, r.distance_km, r.lead_time_hours, \
            coalesce(r.markup_basis_points, 0) \
            FROM transfers t JOIN relations r ON r.tenant_id = t.tenant_id AND r.relation_id = t.relation_id \
            WHERE t.tenant_id = :\(prefix)tenant_id AND t.transfer_id = :transfer FOR UPDATE OF t;
            """,
            """
            SELECT l.quantity_scaled, l.unit_cost_fen, l.weight_grams_per_unit, l.category, l.shelf_life_days, l.breakdown::text, \
            l.lost_scaled, l.allowance_scaled, l.claim_scaled, l.claim_value_fen, l.landed_value_fen, i.item_id, i.code, i.name, \
            i.base_unit, i.quantity_scale, i.weight_grams_per_unit, i.category, i.shelf_life_days, i.tax_code, i.tax_rate_basis_points \
            FROM transfer_lines l JOIN items i ON i.tenant_id = l.tenant_id AND i.item_id = l.item_id \
            WHERE l.tenant_id = :\(prefix)tenant_id AND l.transfer_id = :transfer ORDER BY l.line_no;
            """,
        ]
    }

    /// `insertMoves`: the only stock write; the database keeps the balances from it.
    private func insertMoves(
        _ prefix: String, items: String, quantities: String, values: String, units: String, buckets: String, document: String
    ) -> String {
        """
        INSERT INTO stock_moves (tenant_id, org_id, item_id, quantity_scaled, value_fen, unit_cost_fen, document_type, document_id, \
        principal_id, bucket) SELECT :\(prefix)tenant_id, :\(prefix)org_id, m.item_id, m.quantity, m.value, m.unit_cost, \
        '\(document)', :transfer, :\(prefix)principal_id, m.bucket \
        FROM unnest(\(items)::bigint[], \(quantities)::bigint[], \(values)::bigint[], \(units)::bigint[], \(buckets)::text[]) \
        WITH ORDINALITY AS m (item_id, quantity, value, unit_cost, bucket, position) ORDER BY m.position;
        """
    }

    private func audit(_ prefix: String, action: String, detail: String) -> String {
        """
        INSERT INTO audit_events (tenant_id, principal_id, actor, org_id, request_id, action, subject, detail) \
        VALUES (:\(prefix)tenant_id, :\(prefix)principal_id, :\(prefix)principal_name, :\(prefix)org_id, 'pgbench', '\(action)', \
        :transfer, '\(detail)'::jsonb);
        """
    }
}
