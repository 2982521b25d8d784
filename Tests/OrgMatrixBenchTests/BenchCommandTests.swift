import Foundation
import OrgMatrixTestSupport
import Testing

/// `orgmatrix-bench postings` end to end at a small scale: it prints both figures and their
/// ratio, and PostgreSQL's own counts show that pgbench wrote exactly the rows the API wrote.
/// (Its speed is the benchmark's business, not a test's.)
@Suite struct BenchCommandTests {
    @Test func postingsBenchmarkRunsBothSidesOnTheSameWork() throws {
        _ = try TestEnvironment.load()
        let root = TestEnvironment.repositoryRoot
        let run = try runProcess(
            TestEnvironment.orgmatrixBenchExecutable,
            [
                "postings", "--transfers", "24", "--clients", "4", "--warmup", "4", "--rounds", "2",
                "--tenant-file", root.appendingPathComponent("Tenants/dairy.yaml").path, "--schema-dir", TestEnvironment.schemaDirectory,
            ])
        #expect(run.status == 0, "\(run.text)\n\(run.standardError)")
        let lines = run.text.split(separator: "\n").map(String.init)
        for side in ["HTTP API", "pgbench"] {
            let line = try #require(lines.first { $0.trimmingCharacters(in: .whitespaces).hasPrefix(side) }, "\(run.text)")
            let rate = try #require(line.firstMatch(of: /([0-9.]+) transfers\/s/).flatMap { Double($0.1) })
            #expect(rate > 0)
            #expect(line.contains("p99"))
        }
        #expect(run.text.contains("ratio API / pgbench: "))
        #expect(run.text.contains("round 1 (API first)") && run.text.contains("round 2 (pgbench first)"))
        #expect(run.text.contains("the same rows written on both sides, table by table"))
        let writes = try #require(lines.first { $0.contains("rows inserted") })
        let counts = writes.split(separator: " ").compactMap { Double($0) }
        #expect(counts.count == 2 && counts[0] == counts[1] && counts[0] > 0, "\(writes)")
    }

    @Test func postingsBenchmarkRefusesATransferCountThatDoesNotSplitOverTheClients() throws {
        let run = try runProcess(TestEnvironment.orgmatrixBenchExecutable, ["postings", "--transfers", "10", "--clients", "4"])
        #expect(run.status != 0)
        #expect(run.standardError.contains("--transfers must be"))
    }

    /// `orgmatrix-bench sandbox` at its smallest scale: 10 orgs (HQ, two regions, warehouses 3–9
    /// split by parity), so the measured auditor at region A sees itself and warehouses 4, 6, 8.
    @Test func sandboxBenchmarkMeasuresBothRolesOverTheVisibleSet() throws {
        _ = try TestEnvironment.load()
        let run = try runProcess(
            TestEnvironment.orgmatrixBenchExecutable,
            [
                "sandbox", "--orgs", "10", "--tenants", "2", "--rows", "1000", "--rounds", "1", "--rows-per-transaction", "2",
                "--schema-dir", TestEnvironment.schemaDirectory,
            ])
        #expect(run.status == 0, "\(run.text)\n\(run.standardError)")
        #expect(run.text.contains("visible set 4 of 10 orgs"), "\(run.text)")
        #expect(run.text.contains("ratio app/owner: reads "), "\(run.text)")
    }

    @Test func cryptoBenchmarkRefusesAMeasurementTimeOutsideItsBounds() throws {
        let run = try runProcess(TestEnvironment.orgmatrixBenchExecutable, ["crypto", "--seconds", "0"])
        #expect(run.status != 0)
        #expect(run.standardError.contains("--seconds must be 1–60"))
    }
}
