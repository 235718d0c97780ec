import Foundation
import Vocabulary

/// Writes trained weights: one `.npy` per tensor (1-D tensors as [1, n]) and a `manifest.json`
/// naming each tensor's file and shape, with the training report beside it.
public enum ModelExport {
    public static func write(parameters: [Float], layout: ParameterLayout, report: TrainingReport, to folder: URL) throws {
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        var tensors: [[String: Any]] = []
        for tensor in layout.tensors {
            let values = Array(parameters[tensor.offset..<(tensor.offset + tensor.count)])
            let rows = tensor.shape.count == 2 ? tensor.shape[0] : 1
            let file = "\(tensor.name).npy"
            try Data(NPY.encode(NPYMatrix(rows: rows, columns: tensor.count / rows, values: values)))
                .write(to: folder.appendingPathComponent(file))
            tensors.append(["name": tensor.name, "file": file, "shape": tensor.shape])
        }
        let reportObject = try JSONSerialization.jsonObject(with: report.jsonData())
        let manifest: [String: Any] = ["contract": MLContract.version, "tensors": tensors, "training": reportObject]
        try JSONSerialization.data(withJSONObject: manifest, options: [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes])
            .write(to: folder.appendingPathComponent("manifest.json"))
    }
}
