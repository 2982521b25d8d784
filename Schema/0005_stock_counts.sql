-- Stock counts: counted quantities against the book, with a reason, turned into adjustment moves.

CREATE TABLE stock_counts (
    tenant_id uuid NOT NULL,
    count_id bigint GENERATED ALWAYS AS IDENTITY,
    org_id bigint NOT NULL,
    reason text NOT NULL CHECK (length(reason) BETWEEN 3 AND 500),
    principal_id bigint NOT NULL,
    request_id text,
    posted_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, count_id),
    FOREIGN KEY (tenant_id, org_id) REFERENCES orgs (tenant_id, org_id)
);

CREATE TABLE stock_count_lines (
    tenant_id uuid NOT NULL,
    count_id bigint NOT NULL,
    line_no integer NOT NULL CHECK (line_no >= 1),
    org_id bigint NOT NULL,
    item_id bigint NOT NULL,
    book_scaled bigint NOT NULL CHECK (book_scaled >= 0),
    counted_scaled bigint NOT NULL CHECK (counted_scaled >= 0),
    adjustment_value_fen bigint NOT NULL,
    PRIMARY KEY (tenant_id, count_id, line_no),
    FOREIGN KEY (tenant_id, count_id) REFERENCES stock_counts (tenant_id, count_id),
    FOREIGN KEY (tenant_id, item_id) REFERENCES items (tenant_id, item_id)
);

CREATE TRIGGER stock_counts_append_only BEFORE UPDATE OR DELETE ON stock_counts FOR EACH ROW EXECUTE FUNCTION reject_change();
CREATE TRIGGER stock_count_lines_append_only BEFORE UPDATE OR DELETE ON stock_count_lines
    FOR EACH ROW EXECUTE FUNCTION reject_change();

ALTER TABLE stock_moves DROP CONSTRAINT stock_moves_document_type_check;
ALTER TABLE stock_moves ADD CONSTRAINT stock_moves_document_type_check
    CHECK (document_type IN ('purchase_receipt', 'sales_issue', 'stock_count'));

SELECT declare_org_owned_table(t) FROM unnest(ARRAY['stock_counts', 'stock_count_lines']::regclass[]) t;

GRANT SELECT ON stock_counts, stock_count_lines TO orgmatrix_app, orgmatrix_auditor;
GRANT INSERT ON stock_counts, stock_count_lines TO orgmatrix_app;
