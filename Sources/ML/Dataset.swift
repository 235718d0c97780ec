import Foundation
import Vocabulary

/// One split (train, valid or test): embeddings in one contiguous row-major buffer, plus the
/// mentioned and target item indices of every example.
public struct Split: Sendable {
    public var name: String
    public var count: Int
    public var dimension: Int
    /// `count × dimension` floats, row i embedding example i.
    public var embeddings: [Float]
    public var mentioned: [[Int32]]
    public var targets: [[Int32]]

    public init(name: String, dimension: Int, embeddings: [Float], mentioned: [[Int32]], targets: [[Int32]]) {
        precondition(mentioned.count == targets.count && embeddings.count == targets.count * dimension)
        self.name = name
        self.count = targets.count
        self.dimension = dimension
        self.embeddings = embeddings
        self.mentioned = mentioned
        self.targets = targets
    }
}

/// Tag pairs for the auxiliary task: tag text embeddings and the item each one names.
public struct TagSet: Sendable {
    public var count: Int
    public var embeddings: [Float]
    public var items: [Int32]
}

/// A loaded dataset folder.
public struct Dataset: Sendable {
    /// N, the number of items.
    public var itemCount: Int
    public var titles: [String]
    /// D, the embedding width.
    public var dimension: Int
    public var train: Split
    public var valid: Split
    public var test: Split
    public var tags: TagSet?

    /// n_j: the number of train examples whose targets contain item j.
    public var trainItemCounts: [Int] {
        var counts = [Int](repeating: 0, count: itemCount)
        for targets in train.targets { for item in targets { counts[Int(item)] += 1 } }
        return counts
    }

    /// Mean number of targets per train example.
    public var averageTargets: Double {
        Double(train.targets.reduce(0) { $0 + $1.count }) / Double(max(train.count, 1))
    }

    /// N / avg_targets: the negative-to-positive ratio that collapses plain BCE.
    public var imbalance: Double { Double(itemCount) / averageTargets }

    /// Loads and validates a dataset folder; every rule of the format is checked, with the file and line.
    public static func load(from folder: URL) throws -> Dataset {
        let titles = try loadItems(folder.appendingPathComponent("items.tsv"))
        let n = titles.count
        var dimension: Int?
        func split(_ name: String) throws -> Split {
            let matrix = try loadMatrix(folder, "\(name).npy", dimension: &dimension)
            let (mentioned, targets) = try loadExamples(folder.appendingPathComponent("\(name).jsonl"), itemCount: n)
            guard targets.count == matrix.rows else {
                throw DatasetError(
                    file: "\(name).npy", line: nil,
                    message: "has \(matrix.rows) rows but \(name).jsonl has \(targets.count) lines")
            }
            return Split(name: name, dimension: matrix.columns, embeddings: matrix.values, mentioned: mentioned, targets: targets)
        }
        let train = try split("train"), valid = try split("valid"), test = try split("test")
        var tags: TagSet?
        let tagsJSONL = folder.appendingPathComponent("tags.jsonl"), tagsNPY = folder.appendingPathComponent("tags.npy")
        let hasJSONL = FileManager.default.fileExists(atPath: tagsJSONL.path)
        let hasNPY = FileManager.default.fileExists(atPath: tagsNPY.path)
        if hasJSONL != hasNPY {
            throw DatasetError(
                file: hasJSONL ? "tags.npy" : "tags.jsonl", line: nil,
                message: "is missing; tags.jsonl and tags.npy come together")
        }
        if hasJSONL {
            let matrix = try loadMatrix(folder, "tags.npy", dimension: &dimension)
            let items = try loadTags(tagsJSONL, itemCount: n)
            guard items.count == matrix.rows else {
                throw DatasetError(file: "tags.npy", line: nil, message: "has \(matrix.rows) rows but tags.jsonl has \(items.count) lines")
            }
            tags = TagSet(count: items.count, embeddings: matrix.values, items: items)
        }
        guard train.count > 0 else { throw DatasetError(file: "train.jsonl", line: nil, message: "has no examples") }
        return Dataset(itemCount: n, titles: titles, dimension: train.dimension, train: train, valid: valid, test: test, tags: tags)
    }

    static func loadItems(_ url: URL) throws -> [String] {
        let file = "items.tsv"
        let text = String(decoding: try readRegularFile(url), as: UTF8.self)
        var lines = text.split(separator: "\n", omittingEmptySubsequences: false).map { $0.hasSuffix("\r") ? $0.dropLast() : $0 }
        if lines.last == "" { lines.removeLast() }
        guard let header = lines.first, header == "index\tredial_id\ttitle" else {
            throw DatasetError(file: file, line: 1, message: "header must be index<TAB>redial_id<TAB>title")
        }
        var titles: [String] = []
        for (offset, line) in lines.dropFirst().enumerated() {
            let fields = line.split(separator: "\t", maxSplits: 2, omittingEmptySubsequences: false)
            guard fields.count == 3, let index = Int(fields[0]) else {
                throw DatasetError(file: file, line: offset + 2, message: "expected index<TAB>redial_id<TAB>title")
            }
            guard index == titles.count else {
                throw DatasetError(file: file, line: offset + 2, message: "index \(index) out of order; expected \(titles.count)")
            }
            titles.append(String(fields[2]))
        }
        guard !titles.isEmpty else { throw DatasetError(file: file, line: nil, message: "has no items") }
        return titles
    }

    static func loadMatrix(_ folder: URL, _ name: String, dimension: inout Int?) throws -> NPYMatrix {
        let matrix = try NPY.decode(try readRegularFile(folder.appendingPathComponent(name)), file: name)
        if let expected = dimension, expected != matrix.columns {
            throw DatasetError(file: name, line: nil, message: "has D = \(matrix.columns) but other .npy files have D = \(expected)")
        }
        dimension = matrix.columns
        if let bad = matrix.values.firstIndex(where: { !$0.isFinite }) {
            throw DatasetError(
                file: name, line: nil, message: "row \(bad / matrix.columns) has a NaN or infinite value (column \(bad % matrix.columns))")
        }
        return matrix
    }

    private struct ExampleLine: Decodable {
        var id: String
        var text: String
        var mentioned: [Int]
        var targets: [Int]
    }

    private struct TagLine: Decodable {
        var tag: String
        var item: Int
    }

    /// Splits a JSONL file into its lines (1-based numbers), rejecting blank lines inside it.
    private static func jsonLines(_ url: URL) throws -> [(Int, ArraySlice<UInt8>)] {
        let bytes = try readRegularFile(url)
        var lines = bytes.split(separator: UInt8(ascii: "\n"), omittingEmptySubsequences: false)
        if lines.last?.isEmpty == true { lines.removeLast() }
        return try lines.enumerated().map { offset, line in
            guard !line.allSatisfy({ $0 == UInt8(ascii: " ") || $0 == UInt8(ascii: "\r") }) else {
                throw DatasetError(file: url.lastPathComponent, line: offset + 1, message: "blank line")
            }
            return (offset + 1, line)
        }
    }

    static func loadExamples(_ url: URL, itemCount: Int) throws -> ([[Int32]], [[Int32]]) {
        let file = url.lastPathComponent
        let decoder = JSONDecoder()
        var mentioned: [[Int32]] = [], targets: [[Int32]] = []
        for (number, line) in try jsonLines(url) {
            let example: ExampleLine
            do {
                example = try decoder.decode(ExampleLine.self, from: Data(line))
            } catch {
                throw DatasetError(
                    file: file, line: number, message: "not an example object {id, text, mentioned, targets}: \(describe(error))")
            }
            for (key, items) in [("mentioned", example.mentioned), ("targets", example.targets)] {
                if let bad = items.first(where: { $0 < 0 || $0 >= itemCount }) {
                    throw DatasetError(file: file, line: number, message: "\(key) has item \(bad), outside 0..\(itemCount - 1)")
                }
            }
            guard !example.targets.isEmpty else {
                throw DatasetError(file: file, line: number, message: "example \(example.id) has no targets")
            }
            mentioned.append(example.mentioned.map { Int32($0) })
            targets.append(example.targets.map { Int32($0) })
        }
        return (mentioned, targets)
    }

    static func loadTags(_ url: URL, itemCount: Int) throws -> [Int32] {
        let decoder = JSONDecoder()
        return try jsonLines(url).map { number, line in
            let tag: TagLine
            do {
                tag = try decoder.decode(TagLine.self, from: Data(line))
            } catch {
                throw DatasetError(file: "tags.jsonl", line: number, message: "not a tag object {tag, item}: \(describe(error))")
            }
            guard tag.item >= 0 && tag.item < itemCount else {
                throw DatasetError(file: "tags.jsonl", line: number, message: "item \(tag.item) outside 0..\(itemCount - 1)")
            }
            return Int32(tag.item)
        }
    }

    private static func describe(_ error: Error) -> String {
        switch error {
        case DecodingError.keyNotFound(let key, _): "missing field \(key.stringValue)"
        case DecodingError.typeMismatch(_, let context):
            "field \(context.codingPath.map(\.stringValue).joined(separator: ".")) has the wrong type"
        case DecodingError.valueNotFound(_, let context): "field \(context.codingPath.map(\.stringValue).joined(separator: ".")) is null"
        default: "invalid JSON"
        }
    }
}
