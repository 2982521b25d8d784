import Foundation
import OrgMatrixTestSupport
import Testing

/// `orgmatrix-bench ledger` end to end at its smallest: every figure of its four parts is
/// printed and positive, every committed transaction was sealed, the verifier found nothing
/// beyond the key events the Store does not write yet, and only the tenant with a ledger
/// section signed anything. (Its speed is the benchmark's business, not a test's.)
@Suite struct BenchLedgerTests {
    /// The number before `unit` on the line that starts with `prefix` (after its indentation).
    private func figure(_ lines: [String], _ prefix: String, _ unit: String) throws -> Double {
        let line = try #require(lines.first { $0.trimmingCharacters(in: .whitespaces).hasPrefix(prefix) }, "no line \(prefix)")
        let pattern = try Regex(
            "([0-9]+(?:\\.[0-9]+)?) " + NSRegularExpression.escapedPattern(for: unit), as: (Substring, Substring).self)
        return try #require(line.firstMatch(of: pattern).flatMap { Double($0.1) }, "no \(unit) in \(line)")
    }

    @Test func ledgerBenchmarkPrintsEveryFigureOfItsFourParts() throws {
        _ = try TestEnvironment.load()
        let root = TestEnvironment.repositoryRoot
        let run = try runProcess(
            TestEnvironment.orgmatrixBenchExecutable,
            [
                "ledger", "--transactions", "12", "--warmup", "3", "--clients", "3", "--postings", "6", "--posting-rounds", "2",
                "--verify-rounds", "1", "--crypto-seconds", "1", "--block-age-ms", "50",
                "--tenant-file", root.appendingPathComponent("Tenants/dairy.yaml").path,
                "--seed-file", root.appendingPathComponent("Seeds/dairy-demo.yaml").path, "--schema-dir",
                TestEnvironment.schemaDirectory,
            ])
        #expect(run.status == 0, "\(run.text)\n\(run.standardError)")
        let lines = run.text.split(separator: "\n").map(String.init)

        // 1: committed through the API, then all sealed.
        #expect(try figure(lines, "committed", "transactions/s") > 0)
        let committedLine = try #require(lines.first { $0.contains("dispatch → committed p50") })
        #expect(committedLine.contains("p99") && committedLine.contains("max"))
        let sealed = try #require(lines.first { $0.trimmingCharacters(in: .whitespaces).hasPrefix("sealed") }, "\(run.text)")
        let match = try #require(sealed.firstMatch(of: /([0-9]+) blocks, ([0-9]+) of ([0-9]+) committed/), "\(sealed)")
        let (blocks, sealedCount, committed) = (Int(match.1)!, Int(match.2)!, Int(match.3)!)
        // 3 probes + 3 warm-ups + 12 measured dispatches at least (key events may commit too).
        #expect(blocks >= 1 && sealedCount == committed && committed >= 18, "\(sealed)")

        // 2: the verifier over that ledger.
        #expect(try figure(lines, "verified", "transactions/s") > 0)
        #expect(try figure(lines, "verified", "endorsements/s") > 0)
        let findings = try #require(lines.first { $0.trimmingCharacters(in: .whitespaces).hasPrefix("findings") })
        // The benchmark's ledger is one the product wrote: it verifies clean.
        #expect(findings.trimmingCharacters(in: .whitespaces) == "findings         none", "\(findings)")

        // 3: the SM2 ceiling and both ratios, printed beside their targets.
        for unit in ["sign", "verify"] {
            let line = try #require(lines.first { $0.trimmingCharacters(in: .whitespaces).hasPrefix("sign ") })
            let rate = try #require(
                line.firstMatch(of: try Regex("\(unit) ([0-9]+)/s", as: (Substring, Substring).self)).flatMap { Double($0.1) })
            #expect(rate > 0, "\(line)")
        }
        for target in ["target ≥ 60 %", "target ≥ 80 %"] {
            let line = try #require(lines.first { $0.contains(target) }, "\(run.text)")
            #expect(try figure([line.trimmingCharacters(in: .whitespaces)], "ceiling", "transactions/s") > 0)
            #expect(line.firstMatch(of: /= ([0-9]+\.[0-9]) % of it/).flatMap { Double($0.1) }.map { $0 > 0 } == true, "\(line)")
        }

        // 4: both tenants' rates and their ratio; each step writes its transaction on both, and
        // only the tenant with a ledger section signs.
        let without = try figure(lines, "without a ledger section", "transfers/s")
        let with = try figure(lines, "with a ledger section", "transfers/s")
        #expect(without > 0 && with > 0)
        #expect(try figure(lines, "without a ledger section", "ledger transactions") == 2)
        #expect(try figure(lines, "with a ledger section", "ledger transactions") == 2)
        #expect(try figure(lines, "without a ledger section", "signatures per transfer") == 0)
        #expect(try figure(lines, "with a ledger section", "signatures per transfer") == 2)
        let ratio = try #require(run.text.firstMatch(of: /ratio with \/ without: ([0-9.]+)/).flatMap { Double($0.1) })
        #expect(ratio > 0)
        #expect(run.text.contains("still writes each step's ledger transaction"))
    }

    @Test func ledgerBenchmarkRefusesNoClients() throws {
        let run = try runProcess(TestEnvironment.orgmatrixBenchExecutable, ["ledger", "--clients", "0"])
        #expect(run.status != 0)
        #expect(run.standardError.contains("--clients must be 1–256"))
    }
}
