import Foundation
import Vocabulary

/// Writes trained weights: one `.npy` per tensor (1-D tensors as [1, n]) and a `manifest.json`
/// naming each tensor's file and shape, with the training report beside it.
public enum ModelExport {
    public static func write(parameters: [Float], layout: ParameterLayout, report: TrainingReport, to folder: URL) throws {
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        var tensors: [Manifest.Tensor] = []
        for tensor in layout.tensors {
            let values = Array(parameters[tensor.offset..<(tensor.offset + tensor.count)])
            let rows = tensor.shape.count == 2 ? tensor.shape[0] : 1
            let file = "\(tensor.name).npy"
            try Data(NPY.encode(NPYMatrix(rows: rows, columns: tensor.count / rows, values: values)))
                .write(to: folder.appendingPathComponent(file))
            tensors.append(Manifest.Tensor(name: tensor.name, file: file, shape: tensor.shape))
        }
        try JSONDocument.data(Manifest(contract: MLContract.version, tensors: tensors, training: report))
            .write(to: folder.appendingPathComponent("manifest.json"))
    }

    /// `manifest.json`: the contract version, each tensor's file and shape, the training report.
    struct Manifest: Encodable {
        struct Tensor: Encodable {
            var name: String
            var file: String
            var shape: [Int]
        }

        var contract: String
        var tensors: [Tensor]
        var training: TrainingReport
    }
}
