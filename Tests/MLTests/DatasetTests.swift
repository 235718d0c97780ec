import Foundation
import TestSupport
import Testing
import Vocabulary

@testable import ML

/// A tiny valid dataset folder (4 items, D = 3) that each test then breaks in one way.
struct Fixture {
    let folder: URL

    init() throws {
        folder = TestFolders.fresh("fixture")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        try write("items.tsv", "index\tredial_id\ttitle\n0\t10\tA\n1\t11\tB\n2\t12\tC (1999)\n3\t13\tD\n")
        for split in ["train", "valid", "test"] {
            try write(
                "\(split).jsonl",
                """
                {"id": "a", "text": "x", "mentioned": [0], "targets": [1, 2]}
                {"id": "b", "text": "y", "mentioned": [], "targets": [3]}

                """)
            try matrix("\(split).npy", rows: 2, columns: 3)
        }
        try write("tags.jsonl", "{\"tag\": \"funny\", \"item\": 2}\n")
        try matrix("tags.npy", rows: 1, columns: 3)
        try write("README.md", "fixture\n")
    }

    func write(_ name: String, _ text: String) throws {
        try Data(text.utf8).write(to: folder.appendingPathComponent(name))
    }

    func matrix(_ name: String, rows: Int, columns: Int, values: [Float]? = nil) throws {
        let values = values ?? (0..<(rows * columns)).map { Float($0) / 10 }
        try Data(NPY.encode(NPYMatrix(rows: rows, columns: columns, values: values))).write(to: folder.appendingPathComponent(name))
    }

    func remove(_ name: String) throws { try FileManager.default.removeItem(at: folder.appendingPathComponent(name)) }

    /// Loads, expecting a DatasetError, and returns it.
    func failure() -> DatasetError? {
        do {
            _ = try Dataset.load(from: folder)
            return nil
        } catch {
            return error as? DatasetError
        }
    }
}

@Suite struct DatasetTests {
    @Test func loadsAValidFolder() throws {
        let fixture = try Fixture()
        let dataset = try Dataset.load(from: fixture.folder)
        #expect(dataset.itemCount == 4 && dataset.dimension == 3)
        #expect(dataset.titles == ["A", "B", "C (1999)", "D"])
        #expect(dataset.train.count == 2 && dataset.train.mentioned == [[0], []] && dataset.train.targets == [[1, 2], [3]])
        #expect(dataset.train.embeddings.count == 6 && dataset.train.embeddings[4] == 0.4)
        #expect(dataset.tags?.items == [2])
        #expect(dataset.trainItemCounts == [0, 1, 1, 1])
        #expect(dataset.averageTargets == 1.5)
        #expect(abs(dataset.imbalance - 4 / 1.5) < 1e-12)
    }

    @Test func everyRuleNamesTheFileAndLine() throws {
        typealias Breakage = (Fixture) throws -> Void
        let cases: [(Breakage, String, Int?, String)] = [
            ({ try $0.matrix("valid.npy", rows: 3, columns: 3) }, "valid.npy", nil, "has 3 rows but valid.jsonl has 2 lines"),
            (
                {
                    try $0.write(
                        "test.jsonl",
                        "{\"id\": \"a\", \"text\": \"\", \"mentioned\": [], \"targets\": [1]}\n{\"id\": \"b\", \"text\": \"\", \"mentioned\": [], \"targets\": [4]}\n"
                    )
                },
                "test.jsonl", 2, "targets has item 4, outside 0..3"
            ),
            (
                {
                    try $0.write(
                        "train.jsonl",
                        "{\"id\": \"a\", \"text\": \"\", \"mentioned\": [-1], \"targets\": [1]}\n{\"id\": \"b\", \"text\": \"\", \"mentioned\": [], \"targets\": [1]}\n"
                    )
                },
                "train.jsonl", 1, "mentioned has item -1, outside 0..3"
            ),
            (
                {
                    try $0.write(
                        "valid.jsonl",
                        "{\"id\": \"a\", \"text\": \"\", \"mentioned\": [], \"targets\": [1]}\n{\"id\": \"b\", \"text\": \"\", \"mentioned\": [2], \"targets\": []}\n"
                    )
                },
                "valid.jsonl", 2, "example b has no targets"
            ),
            (
                {
                    try $0.write(
                        "train.jsonl",
                        "{\"id\": \"a\", \"text\": \"\", \"mentioned\": [], \"targets\": [1]}\n{\"id\": \"b\", \"mentioned\": [], \"targets\": [1]}\n"
                    )
                },
                "train.jsonl", 2, "not an example object {id, text, mentioned, targets}: missing field text"
            ),
            (
                { try $0.write("train.jsonl", "{\"id\": \"a\", \"text\": \"\", \"mentioned\": [], \"targets\": [1]}\n{oops\n") },
                "train.jsonl", 2, "not an example object {id, text, mentioned, targets}: invalid JSON"
            ),
            (
                {
                    try $0.write(
                        "train.jsonl",
                        "{\"id\": \"a\", \"text\": \"\", \"mentioned\": [], \"targets\": [1]}\n\n{\"id\": \"b\", \"text\": \"\", \"mentioned\": [], \"targets\": [1]}\n"
                    )
                },
                "train.jsonl", 2, "blank line"
            ),
            ({ try $0.matrix("test.npy", rows: 2, columns: 4) }, "test.npy", nil, "has D = 4 but other .npy files have D = 3"),
            (
                { try $0.matrix("train.npy", rows: 2, columns: 3, values: [0, 0, 0, 0, .nan, 0]) }, "train.npy", nil,
                "row 1 has a NaN or infinite value (column 1)"
            ),
            (
                { try $0.matrix("tags.npy", rows: 1, columns: 3, values: [0, .infinity, 0]) }, "tags.npy", nil,
                "row 0 has a NaN or infinite value (column 1)"
            ),
            (
                { try $0.write("items.tsv", "idx\tredial_id\ttitle\n0\t1\tA\n") }, "items.tsv", 1,
                "header must be index<TAB>redial_id<TAB>title"
            ),
            (
                { try $0.write("items.tsv", "index\tredial_id\ttitle\n0\t1\tA\n2\t3\tC\n") }, "items.tsv", 3,
                "index 2 out of order; expected 1"
            ),
            (
                { try $0.write("items.tsv", "index\tredial_id\ttitle\n0\t1\tA\nB\n") }, "items.tsv", 3,
                "expected index<TAB>redial_id<TAB>title"
            ),
            ({ try $0.write("tags.jsonl", "{\"tag\": \"x\", \"item\": 9}\n") }, "tags.jsonl", 1, "item 9 outside 0..3"),
            ({ try $0.remove("tags.npy") }, "tags.npy", nil, "is missing; tags.jsonl and tags.npy come together"),
            ({ try $0.write("valid.npy", "not numpy") }, "valid.npy", nil, "not a .npy file (bad magic)"),
        ]
        for (index, (breakIt, file, line, message)) in cases.enumerated() {
            let fixture = try Fixture()
            try breakIt(fixture)
            let error = fixture.failure()
            #expect(error == DatasetError(file: file, line: line, message: message), "case \(index)")
        }
        let fixture = try Fixture()
        try fixture.remove("valid.jsonl")
        #expect(fixture.failure()?.file == "valid.jsonl")
        #expect(fixture.failure()?.message.hasPrefix("cannot be read") == true)
    }

    @Test func npyHeadersAsNumPyWritesThem() throws {
        // A header as numpy.save writes it for a (2, 3) float32 array.
        let header = "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }"
        var bytes: [UInt8] = [0x93] + Array("NUMPY".utf8) + [1, 0]
        let padded = header + String(repeating: " ", count: 128 - 10 - header.utf8.count - 1) + "\n"
        bytes += [UInt8(padded.utf8.count), 0] + Array(padded.utf8)
        let values: [Float] = [1, 2, 3, 4, 5, 6.5]
        values.withUnsafeBytes { bytes += $0 }
        let matrix = try NPY.decode(bytes, file: "x.npy")
        #expect(matrix == NPYMatrix(rows: 2, columns: 3, values: values))
        #expect(try NPY.decode(NPY.encode(matrix), file: "x.npy") == matrix)
        #expect(NPY.encode(matrix).count == 128 + 24)
        let bigEndian = Array(bytes).replacing(Array("'<f4'".utf8), with: Array("'>f4'".utf8))
        #expect(throws: DatasetError(file: "x.npy", line: nil, message: "dtype '>f4' is not little-endian float32 ('<f4')")) {
            try NPY.decode(bigEndian, file: "x.npy")
        }
        let fortran = Array(bytes).replacing(Array("False".utf8), with: Array("True ".utf8))
        #expect(throws: DatasetError(file: "x.npy", line: nil, message: "Fortran order is not supported; save in C order")) {
            try NPY.decode(fortran, file: "x.npy")
        }
        #expect(throws: DatasetError.self) { try NPY.decode(Array(bytes.dropLast()), file: "x.npy") }
    }

    @Test func fingerprintCoversFormatFilesOnly() throws {
        let fixture = try Fixture()
        let before = try DatasetFingerprint.compute(folder: fixture.folder)
        #expect(before.files.map(\.name) == DatasetFingerprint.formatFiles.sorted())
        try fixture.write("README.md", "changed\n")
        try fixture.write("notes.txt", "extra\n")
        #expect(try DatasetFingerprint.compute(folder: fixture.folder) == before)
        try fixture.write("items.tsv", "index\tredial_id\ttitle\n0\t10\tA\n1\t11\tB\n2\t12\tC (1999)\n3\t13\tE\n")
        #expect(try DatasetFingerprint.compute(folder: fixture.folder).fingerprint != before.fingerprint)
    }

    /// A dataset file that is a link to /dev/zero was read (and fingerprinted) without end, a FIFO
    /// blocked: both are named as not regular files.
    @Test func aDatasetFileThatIsNoRegularFileIsNamed() throws {
        for make in [
            { (path: String) in try FileManager.default.createSymbolicLink(atPath: path, withDestinationPath: "/dev/zero") },
            { (path: String) in _ = mkfifo(path, 0o644) },
        ] as [(String) throws -> Void] {
            let fixture = try Fixture()
            try fixture.remove("tags.jsonl")
            try make(fixture.folder.appendingPathComponent("tags.jsonl").path)
            #expect(fixture.failure()?.message.contains("is not a regular file") == true, "\(String(describing: fixture.failure()))")
            #expect(throws: DatasetError.self) { try DatasetFingerprint.compute(folder: fixture.folder) }
        }
    }

    /// docs/spec/ml.md describes the trainer in the project's own words; its table of config keys
    /// is held to the code: the same keys of the v1 contract, in order, with the same defaults.
    @Test func theTrainersDocumentedKeysAndDefaultsAreTheCodes() throws {
        let page = try String(
            contentsOf: ReDialData.repository.appendingPathComponent("docs/spec/ml.md"), encoding: .utf8)
        let table = try #require(page.range(of: "## Config keys")).upperBound
        // Cells are split at " | ": a `\|` inside a cell (a list of choices) stays in it.
        let rows = page[table...].split(separator: "\n").filter { $0.hasPrefix("| `") }.map { line in
            line.dropFirst(2).dropLast(2).components(separatedBy: " | ").map { $0.trimmingCharacters(in: .whitespaces) }
        }
        let documented = rows.map { String($0[0].dropFirst().dropLast()) }
        let contract = TrialConfig.keys.filter { !TrialConfig.extensionKeys.contains($0) && $0 != "select_goal" }
        #expect(documented == contract)
        let defaults = TrialConfig()
        for row in rows {
            let key = String(row[0].dropFirst().dropLast()), text = row[2]
            let value = try #require(defaults.value(key), "\(key) has no default")
            switch value {
            case .double(let number): #expect(Double(text) == number, "\(key): documented \(text), code \(number)")
            case .int(let number): #expect(Int(text) == number, "\(key): documented \(text), code \(number)")
            case .bool(let flag): #expect(text == String(flag), "\(key): documented \(text), code \(flag)")
            case .string(let name): #expect(text == name, "\(key): documented \(text), code \(name)")
            }
        }
    }

    @Test func theSharedReDialDatasetLoads() throws {
        let folder = ReDialData.shared
        try #require(
            FileManager.default.fileExists(atPath: folder.appendingPathComponent("items.tsv").path),
            "the shared ReDial dataset is expected at \(folder.path)")
        let dataset = try Dataset.load(from: folder)
        #expect(dataset.itemCount == 6924 && dataset.dimension == 384)
        #expect(dataset.train.count == 3502 && dataset.valid.count == 393 && dataset.test.count == 1253)
        #expect(dataset.tags?.count == 2695)
        #expect(abs(dataset.imbalance - 2256) < 1)
        #expect(dataset.trainItemCounts.filter { $0 > 0 }.count == 3074)
    }
}
