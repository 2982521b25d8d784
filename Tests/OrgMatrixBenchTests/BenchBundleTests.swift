import Foundation
import OrgMatrixTestSupport
import Testing

/// `orgmatrix-bench bundle` at its smallest: the generated tenant holds the clones and the
/// tenant's own events, sealed; the product's export and verify-bundle run on it, the bundle
/// verifies clean, and both figures and memory are printed. (The speed is the benchmark's.)
@Suite struct BenchBundleTests {
    @Test func bundleBenchmarkExportsAndVerifiesTheGeneratedTenant() throws {
        _ = try TestEnvironment.load()
        let root = TestEnvironment.repositoryRoot
        let out = FileManager.default.temporaryDirectory.appendingPathComponent("bench-bundle-test-\(UUID().uuidString)").path
        defer { try? FileManager.default.removeItem(atPath: out) }
        let run = try runProcess(
            TestEnvironment.orgmatrixBenchExecutable,
            [
                "bundle", "--transactions", "45", "--block-transactions", "20", "--batch", "20", "--out", out,
                "--orgmatrix", TestEnvironment.orgmatrixExecutable,
                "--tenant-file", root.appendingPathComponent("Tenants/dairy.yaml").path,
                "--seed-file", root.appendingPathComponent("Seeds/dairy-demo.yaml").path, "--schema-dir", TestEnvironment.schemaDirectory,
            ])
        #expect(run.status == 0, "\(run.text)\n\(run.standardError)")
        let generated = try #require(run.text.firstMatch(of: /: ([0-9]+) transactions \(45 cloned transfers\), ([0-9]+) blocks of ≤ 20/), "\(run.text)")
        let (transactions, blocks) = (Int(generated.1)!, Int(generated.2)!)
        #expect(transactions > 45 && blocks == (transactions + 19) / 20, "\(run.text)")
        for command in ["export", "verify-bundle"] {
            let figures = try #require(
                run.text.firstMatch(of: try Regex("\(command): [0-9.]+ s, ([0-9]+) transactions/s, peak resident memory ([0-9.]+) MiB",
                    as: (Substring, Substring, Substring).self)), "\(run.text)")
            #expect(Double(figures.1)! > 0 && Double(figures.2)! > 1, "\(run.text)")
        }
        #expect(run.text.contains("bundle of tenant dairy: clean") && run.text.contains("transactions \(transactions) (committed \(transactions)"), "\(run.text)")
        // The bundle it measured is on disk, one tx.json per transaction.
        let listed = try String(contentsOfFile: out + "/manifest.sm3", encoding: .utf8).split(separator: "\n").filter { $0.hasSuffix("/tx.json") }
        #expect(listed.count == transactions)
    }
}
