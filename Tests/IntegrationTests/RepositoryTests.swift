import Foundation
import Testing

/// The repository stands alone: what a user reads links only to files inside it, and nothing but
/// the tests, CI and the Makefile's test data path points at the data kept beside the checkout.
@Suite struct RepositoryTests {
    /// Every file git would ship (sources, docs, sweeps, examples, tools), by path from the root.
    static func shippedFiles() throws -> [String] {
        let skipped = [".build", ".git", ".swiftpm", "data", "out", "__pycache__"]
        var files: [String] = []
        let root = repositoryRoot.standardizedFileURL.path
        guard let walker = FileManager.default.enumerator(atPath: root) else { return [] }
        while let path = walker.nextObject() as? String {
            if skipped.contains((path as NSString).lastPathComponent) {
                walker.skipDescendants()
                continue
            }
            if (walker.fileAttributes?[.type] as? FileAttributeType) == .typeRegular { files.append(path) }
        }
        return files
    }

    @Test func everyLinkInTheDocsResolvesInsideTheRepository() throws {
        let root = repositoryRoot.standardizedFileURL
        let markdown = try Self.shippedFiles().filter { $0.hasSuffix(".md") && !$0.hasPrefix("Tests/") }
        #expect(markdown.count >= 10)
        let link = try Regex(#"\]\(([^)\s]+)\)"#)
        var broken: [String] = []
        for path in markdown {
            let text = try String(contentsOf: root.appendingPathComponent(path), encoding: .utf8)
            for match in text.matches(of: link) {
                let target = String(text[match.output[1].range!])
                if target.hasPrefix("http://") || target.hasPrefix("https://") || target.hasPrefix("mailto:") || target.hasPrefix("#") {
                    continue
                }
                let file = String(target.split(separator: "#", maxSplits: 1)[0])
                let resolved = root.appendingPathComponent(path).deletingLastPathComponent().appendingPathComponent(file)
                    .standardizedFileURL
                if !resolved.path.hasPrefix(root.path + "/") || !FileManager.default.fileExists(atPath: resolved.path) {
                    broken.append("\(path): \(target)")
                }
            }
        }
        #expect(broken.isEmpty, "\(broken)")
    }

    @Test func nothingAUserReadsPointsAtTheDataBesideTheCheckout() throws {
        let root = repositoryRoot.standardizedFileURL
        let allowed = ["Makefile", ".ci/"]
        var pointing: [String] = []
        for path in try Self.shippedFiles() where !path.hasPrefix("Tests/") && !allowed.contains(where: { path.hasPrefix($0) }) {
            guard let text = try? String(contentsOf: root.appendingPathComponent(path), encoding: .utf8) else { continue }
            if text.contains("../shared") { pointing.append(path) }
        }
        #expect(pointing.isEmpty, "\(pointing)")
    }
}
