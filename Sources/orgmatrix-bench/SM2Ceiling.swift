import SMCrypto

/// SM2 operations per second on every core through SMCrypto, the bound the ledger's commit and
/// verify rates are held to: one child task per core, each looping over `operation` until the
/// deadline (the cooperative pool has a thread per core, so the tasks run side by side).
struct SM2Ceiling {
    /// Plain signatures over the message.
    let signsPerSecond: Double
    let verifiesPerSecond: Double
    /// What a custodial signature costs the Store besides the unsealing's SM4: the private key
    /// read from PKCS#8 (which derives its public point, one more scalar multiplication, checked
    /// against the key row) and then the signature (Keys.swift `sign`).
    let custodialSignsPerSecond: Double

    /// `message`: the bytes signed and verified (a transaction's canonical bytes, so SM3 over
    /// the message costs what it costs in the ledger).
    static func measure(cores: Int, duration: Duration, message: [UInt8]) async throws -> SM2Ceiling {
        let key = SM2PrivateKey.generate()
        let pkcs8 = key.derRepresentation
        let signature = try key.signature(for: message)
        let signs = await rate(cores: cores, duration: duration) { _ = try? key.signature(for: message) }
        let verifies = await rate(cores: cores, duration: duration) {
            precondition((try? key.publicKey.isValidSignature(signature, for: message)) == true)
        }
        let custodial = await rate(cores: cores, duration: duration) {
            _ = try? SM2PrivateKey(derRepresentation: pkcs8).signature(for: message)
        }
        return SM2Ceiling(signsPerSecond: signs, verifiesPerSecond: verifies, custodialSignsPerSecond: custodial)
    }

    /// Operations per second of `operation` in `cores` child tasks for `duration`, after a few
    /// unmeasured ones.
    static func rate(cores: Int, duration: Duration, _ operation: @escaping @Sendable () -> Void) async -> Double {
        for _ in 0..<5 { operation() }
        let started = ContinuousClock.now
        let deadline = started + duration
        let total = await withTaskGroup(of: Int.self) { group in
            for _ in 0..<cores {
                group.addTask {
                    var count = 0
                    while ContinuousClock.now < deadline {
                        operation()
                        count += 1
                    }
                    return count
                }
            }
            return await group.reduce(0, +)
        }
        return Double(total) / seconds(ContinuousClock.now - started)
    }
}
