// swift-tools-version:6.0
import PackageDescription

let package = Package(
    name: "OrgMatrix",
    platforms: [.macOS(.v15)],
    products: [
        .executable(name: "orgmatrix", targets: ["orgmatrix"]),
        .executable(name: "orgmatrix-bench", targets: ["orgmatrix-bench"]),
    ],
    dependencies: [
        .package(url: "https://github.com/hummingbird-project/hummingbird.git", from: "2.28.1"),
        .package(url: "https://github.com/vapor/postgres-nio.git", from: "1.33.2"),
        .package(url: "https://github.com/apple/swift-argument-parser.git", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-log.git", from: "1.16.2"),
        .package(url: "https://github.com/apple/swift-metrics.git", from: "2.13.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus.git", from: "2.4.1"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle.git", from: "2.13.0"),
        .package(url: "https://github.com/apple/swift-http-types.git", from: "1.8.0"),
        .package(url: "https://github.com/apple/swift-nio.git", from: "2.101.2"),
        .package(url: "https://github.com/jpsim/Yams.git", from: "6.2.2"),
        .package(url: "https://github.com/HdrHistogram/hdrhistogram-swift.git", from: "0.2.0"),
    ],
    targets: [
        .target(
            name: "CGcrypt",
            linkerSettings: [.linkedLibrary("gcrypt"), .linkedLibrary("gpg-error")]
        ),
        .target(name: "CSystemCalls"),
        .target(name: "SMCrypto", dependencies: ["CGcrypt"]),
        .target(name: "OrgMatrixCore", dependencies: ["SMCrypto"]),
        .target(
            name: "OrgMatrixStore",
            dependencies: [
                "OrgMatrixCore",
                "SMCrypto",
                .product(name: "PostgresNIO", package: "postgres-nio"),
                .product(name: "Yams", package: "Yams"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "NIOCore", package: "swift-nio"),
            ]
        ),
        .target(
            name: "OrgMatrixAPI",
            dependencies: [
                "OrgMatrixCore",
                "OrgMatrixStore",
                "SMCrypto",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HTTPTypes", package: "swift-http-types"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "PostgresNIO", package: "postgres-nio"),
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            resources: [.copy("openapi.json")]
        ),
        .executableTarget(
            name: "orgmatrix",
            dependencies: [
                "CSystemCalls",
                "OrgMatrixAPI",
                "OrgMatrixStore",
                "OrgMatrixCore",
                "SMCrypto",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "PostgresNIO", package: "postgres-nio"),
            ],
            // The verifiers and README every exported bundle carries (docs/LEDGER.md).
            resources: [.copy("Bundle")]
        ),
        .executableTarget(
            name: "orgmatrix-bench",
            dependencies: [
                "OrgMatrixAPI",
                "OrgMatrixStore",
                "OrgMatrixCore",
                "SMCrypto",
                "CGcrypt",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Histogram", package: "hdrhistogram-swift"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "PostgresNIO", package: "postgres-nio"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ]
        ),
        .target(
            name: "OrgMatrixTestSupport",
            dependencies: [
                "OrgMatrixCore", "OrgMatrixStore", "SMCrypto",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "PostgresNIO", package: "postgres-nio"),
            ],
            path: "Tests/OrgMatrixTestSupport"
        ),
        .testTarget(name: "SMCryptoTests", dependencies: ["SMCrypto", "OrgMatrixTestSupport"]),
        .testTarget(name: "OrgMatrixCoreTests", dependencies: ["OrgMatrixCore", "SMCrypto"]),
        .testTarget(
            name: "OrgMatrixCLITests",
            dependencies: [
                "orgmatrix", "OrgMatrixCore", "SMCrypto", "OrgMatrixStore", "OrgMatrixTestSupport",
                .product(name: "PostgresNIO", package: "postgres-nio"),
            ]
        ),
        .testTarget(name: "OrgMatrixBenchTests", dependencies: ["orgmatrix-bench", "OrgMatrixTestSupport"]),
        .testTarget(
            name: "OrgMatrixStoreTests",
            dependencies: [
                "OrgMatrixCore", "OrgMatrixStore", "OrgMatrixTestSupport", "SMCrypto",
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "PostgresNIO", package: "postgres-nio"),
            ]
        ),
        .testTarget(
            name: "OrgMatrixAPITests",
            dependencies: [
                "OrgMatrixAPI",
                "OrgMatrixCore",
                "OrgMatrixStore",
                "OrgMatrixTestSupport",
                "SMCrypto",
                .product(name: "PostgresNIO", package: "postgres-nio"),
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HummingbirdTesting", package: "hummingbird"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "HTTPTypes", package: "swift-http-types"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ]
        ),
    ],
    swiftLanguageModes: [.v6]
)
