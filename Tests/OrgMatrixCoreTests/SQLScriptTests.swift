import OrgMatrixCore
import Testing

@Suite struct SQLScriptTests {
    @Test func splitsOnSemicolonsAndDropsEmptyStatements() throws {
        let statements = try SQLScript.statements("CREATE TABLE a (x int);\n\n;  SELECT 1 ;\n")
        #expect(statements == ["CREATE TABLE a (x int)", "SELECT 1"])
    }

    @Test func keepsSemicolonsInsideStringsIdentifiersAndComments() throws {
        let script = """
            -- a comment; with a semicolon
            INSERT INTO t VALUES ('a;b', 'it''s; fine', E'x\\';y');
            /* block; /* nested; */ still comment; */
            SELECT "weird;name" FROM t;
            """
        let statements = try SQLScript.statements(script)
        #expect(statements.count == 2)
        #expect(statements[0].hasSuffix(#"INSERT INTO t VALUES ('a;b', 'it''s; fine', E'x\';y')"#))
        #expect(statements[1].hasSuffix(#"SELECT "weird;name" FROM t"#))
    }

    @Test func keepsDollarQuotedBodiesWhole() throws {
        let script = """
            DO $$ BEGIN PERFORM 1; PERFORM 2; END $$;
            CREATE FUNCTION f() RETURNS int LANGUAGE sql AS $body$ SELECT 1; $body$;
            SELECT $1::int;
            """
        let statements = try SQLScript.statements(script)
        #expect(statements.count == 3)
        #expect(statements[0] == "DO $$ BEGIN PERFORM 1; PERFORM 2; END $$")
        #expect(statements[1].hasSuffix("AS $body$ SELECT 1; $body$"))
        #expect(statements[2] == "SELECT $1::int")
    }

    @Test func dropsATrailingCommentOnlyFragment() throws {
        #expect(try SQLScript.statements("SELECT 1; -- done\n/* bye */") == ["SELECT 1"])
    }

    @Test(arguments: [
        ("SELECT 'open", "string", 1),
        ("SELECT 1;\nSELECT \"open", "quoted identifier", 2),
        ("SELECT 1;\n\n/* open", "block comment", 3),
        ("DO $x$ BEGIN END $y$", "dollar-quoted body", 1),
    ])
    func rejectsUnterminatedConstructsNamingTheLine(script: String, construct: String, line: Int) {
        #expect(throws: SQLScript.UnterminatedError(line: line, construct: construct)) {
            try SQLScript.statements(script)
        }
    }
}
