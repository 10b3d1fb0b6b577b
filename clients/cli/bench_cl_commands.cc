#include "clients/cli/bench_cl_commands.h"

#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include "clients/cli/cli_common.h"
#include "clients/cli/model_command_list.h"
#include "learner/data/cifar.h"
#include "learner/data/fashion_mnist.h"
#include "learner/data/image_folder.h"
#include "learner/eval/continual_benchmark.h"
#include "learner/model/default_model.h"
#include "learner/model/tokenizer.h"

namespace perennial::cli {
namespace {

struct BenchClFlags {
  std::string dataset = "fashion-mnist";
  std::string data_dir;
  std::vector<std::string> methods = {"frozen", "asym-ft", "er", "sit", "sit+vrlwf"};
  std::vector<uint64_t> seeds = {1, 2, 3};
  double n_percent = 50;
  double m_percent = 10;
  std::string pet = "lora";
  std::string towers = "both";
  std::string out_dir = "bench-cl-results";
  std::string model;
  RuntimeFlags runtime;
  ContinualBenchmarkOptions options = [] {
    ContinualBenchmarkOptions o;
    o.max_train_samples = 6000;
    o.max_test_per_class = 100;
    o.eval_period = 500;
    o.probe_samples_per_task = 100;
    return o;
  }();
};

struct TrainTest {
  Dataset train;
  Dataset test;
};

StatusOr<TrainTest> LoadDatasets(const BenchClFlags& flags) {
  const std::string& name = flags.dataset;
  if (name == "fashion-mnist") {
    const std::string dir = flags.data_dir.empty() ? kDefaultFashionMnistDir : flags.data_dir;
    PERENNIAL_ASSIGN_OR_RETURN(Dataset train, LoadFashionMnist(dir, Split::kTrain));
    PERENNIAL_ASSIGN_OR_RETURN(Dataset test, LoadFashionMnist(dir, Split::kTest));
    return TrainTest{std::move(train), std::move(test)};
  }
  if (name == "cifar10" || name == "cifar100") {
    if (flags.data_dir.empty()) {
      return InvalidArgumentError("--dataset " + name +
                                  " needs --data-dir (the folder of the binary version)");
    }
    const bool ten = name == "cifar10";
    PERENNIAL_ASSIGN_OR_RETURN(Dataset train, ten ? LoadCifar10(flags.data_dir, Split::kTrain)
                                                  : LoadCifar100(flags.data_dir, Split::kTrain));
    PERENNIAL_ASSIGN_OR_RETURN(Dataset test, ten ? LoadCifar10(flags.data_dir, Split::kTest)
                                                 : LoadCifar100(flags.data_dir, Split::kTest));
    return TrainTest{std::move(train), std::move(test)};
  }
  if (name == "folder") {
    if (flags.data_dir.empty()) {
      return InvalidArgumentError("--dataset folder needs --data-dir with train/ and test/");
    }
    PERENNIAL_ASSIGN_OR_RETURN(Dataset train, LoadImageFolder(flags.data_dir + "/train"));
    PERENNIAL_ASSIGN_OR_RETURN(Dataset test, LoadImageFolder(flags.data_dir + "/test"));
    return TrainTest{std::move(train), std::move(test)};
  }
  return InvalidArgumentError("--dataset '" + name +
                              "' is unknown; want fashion-mnist, cifar10, cifar100 or folder");
}

struct MeanStd {
  double mean = 0, std = 0;
};

// Sample standard deviation (n - 1); 0 for a single value.
MeanStd Aggregate(const std::vector<double>& values) {
  MeanStd out;
  if (values.empty()) return out;
  for (double v : values) out.mean += v;
  out.mean /= static_cast<double>(values.size());
  if (values.size() < 2) return out;
  double sum_sq = 0;
  for (double v : values) sum_sq += (v - out.mean) * (v - out.mean);
  out.std = std::sqrt(sum_sq / static_cast<double>(values.size() - 1));
  return out;
}

std::string Cell(const MeanStd& value, int decimals) {
  char buffer[64];
  std::snprintf(buffer, sizeof(buffer), "%.*f ± %.*f", decimals, value.mean, decimals, value.std);
  return buffer;
}

// The table's columns: JSON key, header, decimals, how to read it off the metrics.
struct Column {
  const char* key;
  const char* header;
  int decimals;
  double (*get)(const ContinualMetrics&);
};

const std::vector<Column>& Columns() {
  static const std::vector<Column> columns = {
      {"a_auc", "A_auc ↑", 3, [](const ContinualMetrics& m) { return m.a_auc; }},
      {"a_last", "A_last ↑", 3, [](const ContinualMetrics& m) { return m.a_last; }},
      {"f_last", "F_last ↓", 3, [](const ContinualMetrics& m) { return m.f_last; }},
      {"prequential", "prequential ↑", 3, [](const ContinualMetrics& m) { return m.prequential; }},
      {"zero_shot_retention", "ZS retention ↑", 3,
       [](const ContinualMetrics& m) { return m.mean_zero_shot_retention; }},
      {"samples_per_second", "img/s", 1,
       [](const ContinualMetrics& m) { return m.samples_per_second; }},
  };
  return columns;
}

struct MethodRuns {
  std::string method;
  std::vector<ContinualBenchmarkResult> runs;  // one per seed
};

std::string MarkdownTable(const std::vector<MethodRuns>& all) {
  std::ostringstream out;
  out << "| method |";
  for (const Column& c : Columns()) out << " " << c.header << " |";
  out << "\n|---|";
  for (size_t i = 0; i < Columns().size(); ++i) out << "---|";
  out << "\n";
  for (const MethodRuns& m : all) {
    out << "| " << m.method << " |";
    for (const Column& c : Columns()) {
      std::vector<double> values;
      for (const ContinualBenchmarkResult& r : m.runs) values.push_back(c.get(r.metrics));
      out << " " << Cell(Aggregate(values), c.decimals) << " |";
    }
    out << "\n";
  }
  return out.str();
}

nlohmann::json RunJson(uint64_t seed, const ContinualBenchmarkResult& r) {
  nlohmann::json run = {{"seed", seed}};
  for (const Column& c : Columns()) run[c.key] = c.get(r.metrics);
  run["a_avg"] = r.metrics.a_avg;
  nlohmann::json curve = nlohmann::json::array();
  for (const AccuracyPoint& p : r.record.curve) curve.push_back({p.samples_seen, p.accuracy});
  run["curve"] = curve;
  nlohmann::json probes = nlohmann::json::object();
  for (size_t i = 0; i < r.record.zero_shot.size(); ++i) {
    const ZeroShotResult& z = r.record.zero_shot[i];
    probes[z.task] = {{"base", z.base_accuracy}, {"after", z.accuracy}};
  }
  run["zero_shot"] = probes;
  run["samples_trained"] = r.record.samples_trained;
  run["train_seconds"] = r.record.train_seconds;
  return run;
}

// The command that reproduces the run, for results.md.
std::string CommandLine(const BenchClFlags& f) {
  std::ostringstream out;
  out << "perennial bench-cl --dataset " << f.dataset << " --methods ";
  for (size_t i = 0; i < f.methods.size(); ++i) out << (i ? "," : "") << f.methods[i];
  out << " --seeds ";
  for (size_t i = 0; i < f.seeds.size(); ++i) out << (i ? "," : "") << f.seeds[i];
  out << " --tasks " << f.options.stream.num_tasks << " --n " << f.n_percent << " --m "
      << f.m_percent << " --max-train " << f.options.max_train_samples << " --test-per-class "
      << f.options.max_test_per_class << " --eval-period " << f.options.eval_period
      << " --probe-samples " << f.options.probe_samples_per_task << " --pet " << f.pet
      << " --towers " << f.towers;
  return out.str();
}

Status WriteText(const std::filesystem::path& path, const std::string& text) {
  std::ofstream out(path, std::ios::binary);
  out << text;
  if (!out) return InternalError("cannot write " + path.string());
  return OkStatus();
}

// Draws <out>/curves.png with scripts/plot_bench_cl.py; a missing matplotlib is a warning, not
// an error (the table is the result; the plot is a view of it).
void Plot(const std::filesystem::path& json, const std::filesystem::path& png) {
  const std::string command =
      "/usr/bin/python3 scripts/plot_bench_cl.py '" + json.string() + "' '" + png.string() + "'";
  if (std::system(command.c_str()) != 0) {
    std::fprintf(stderr,
                 "warning: no plot (%s failed; needs python3-matplotlib and the source tree's "
                 "scripts/)\n",
                 command.c_str());
  }
}

Status RunBenchCl(const BenchClFlags& flags) {
  PERENNIAL_ASSIGN_OR_RETURN(std::string path, ResolveModelPath(flags.model));
  PERENNIAL_ASSIGN_OR_RETURN(ClipModel model, LoadModel(path, flags.runtime));
  PERENNIAL_ASSIGN_OR_RETURN(Tokenizer tokenizer, Tokenizer::LoadDefault());
  PERENNIAL_ASSIGN_OR_RETURN(TrainTest data, LoadDatasets(flags));
  ContinualBenchmarkOptions options = flags.options;
  options.stream.disjoint_class_ratio = flags.n_percent / 100.0;
  options.stream.blurry_sample_ratio = flags.m_percent / 100.0;
  PERENNIAL_ASSIGN_OR_RETURN(options.learner.pet.kind, ParsePetKind(flags.pet));
  PERENNIAL_ASSIGN_OR_RETURN(options.learner.pet.towers, ParseTowerSelection(flags.towers));
  std::vector<MethodRuns> all;
  const auto start = std::chrono::steady_clock::now();
  const size_t cells = flags.methods.size() * flags.seeds.size();
  for (const std::string& method : flags.methods) {
    PERENNIAL_ASSIGN_OR_RETURN(options.learner.method, ParseOnlineMethod(method));
    MethodRuns runs{method, {}};
    for (uint64_t seed : flags.seeds) {
      options.stream.seed = seed;
      options.learner.seed = seed;
      const size_t cell = all.size() * flags.seeds.size() + runs.runs.size() + 1;
      options.progress = [&](const std::string& line) {
        std::fprintf(stderr, "[%zu/%zu %s seed %llu] %s\n", cell, cells, method.c_str(),
                     static_cast<unsigned long long>(seed), line.c_str());
      };
      PERENNIAL_ASSIGN_OR_RETURN(
          ContinualBenchmarkResult result,
          RunContinualBenchmark(model, tokenizer, data.train, data.test, options));
      std::fprintf(stderr, "[%zu/%zu %s seed %llu] A_auc %.3f  A_last %.3f  %.0f img/s\n", cell,
                   cells, method.c_str(), static_cast<unsigned long long>(seed),
                   result.metrics.a_auc, result.metrics.a_last, result.metrics.samples_per_second);
      runs.runs.push_back(std::move(result));
    }
    all.push_back(std::move(runs));
  }
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();

  const std::string table = MarkdownTable(all);
  const std::string command = CommandLine(flags);
  nlohmann::json json = {{"command", command},
                         {"model", path},
                         {"dataset", flags.dataset},
                         {"seconds", seconds},
                         {"threads", torch::get_num_threads()}};
  for (const MethodRuns& m : all) {
    nlohmann::json runs = nlohmann::json::array();
    for (size_t i = 0; i < m.runs.size(); ++i) runs.push_back(RunJson(flags.seeds[i], m.runs[i]));
    json["methods"][m.method] = runs;
  }
  std::filesystem::create_directories(flags.out_dir);
  const std::filesystem::path out(flags.out_dir);
  char header[256];
  std::snprintf(header, sizeof(header), "%zu runs in %.0f s on %d threads; model %s\n\n", cells,
                seconds, torch::get_num_threads(), path.c_str());
  const std::string markdown = "`" + command + "`\n\n" + header + table;
  PERENNIAL_RETURN_IF_ERROR(WriteText(out / "results.md", markdown));
  PERENNIAL_RETURN_IF_ERROR(WriteText(out / "results.json", json.dump(1) + "\n"));
  Plot(out / "results.json", out / "curves.png");
  std::printf("%s", markdown.c_str());
  std::fprintf(stderr, "wrote %s/results.md, results.json, curves.png\n", flags.out_dir.c_str());
  return OkStatus();
}

}  // namespace

void AddBenchClCommand(CLI::App& app) {
  auto flags = std::make_shared<BenchClFlags>();
  ContinualBenchmarkOptions& o = flags->options;
  CLI::App* sub = app.add_subcommand("bench-cl", ModelCommandDescription("bench-cl"));
  AddModelFlag(sub, &flags->model);
  sub->add_option("--dataset", flags->dataset, "fashion-mnist, cifar10, cifar100 or folder")
      ->capture_default_str();
  sub->add_option("--data-dir", flags->data_dir,
                  "dataset location (fashion-mnist: Debian's by default; folder: train/ and "
                  "test/ sub-folders of class folders)");
  sub->add_option("--methods", flags->methods, "comma-separated methods")
      ->delimiter(',')
      ->capture_default_str();
  sub->add_option("--seeds", flags->seeds, "comma-separated seeds (stream order and learner)")
      ->delimiter(',')
      ->capture_default_str();
  sub->add_option("--tasks", o.stream.num_tasks, "Si-Blurry tasks T")->capture_default_str();
  sub->add_option("--n", flags->n_percent, "percent of classes that are disjoint (N)")
      ->capture_default_str()
      ->check(CLI::Range(0.0, 100.0));
  sub->add_option("--m", flags->m_percent, "percent of blurry-class samples moved (M)")
      ->capture_default_str()
      ->check(CLI::Range(0.0, 100.0));
  sub->add_option("--max-train", o.max_train_samples,
                  "train on a class-stratified subsample of about N samples, all tasks (0: all)")
      ->capture_default_str();
  sub->add_option("--test-per-class", o.max_test_per_class, "test samples per class (0: all)")
      ->capture_default_str();
  sub->add_option("--eval-period", o.eval_period, "stream samples between anytime evaluations")
      ->capture_default_str()
      ->check(CLI::PositiveNumber);
  sub->add_option("--probe-samples", o.probe_samples_per_task,
                  "synthetic-world probe images per task for zero-shot retention (0: skip)")
      ->capture_default_str();
  sub->add_option("--batch", o.batch_size, "stream samples per learner step")
      ->capture_default_str()
      ->check(CLI::PositiveNumber);
  sub->add_option("--online-iters", o.learner.online_iters, "optimizer steps per batch")
      ->capture_default_str()
      ->check(CLI::PositiveNumber);
  sub->add_option("--lr", o.learner.learning_rate, "AdamW learning rate")->capture_default_str();
  sub->add_option("--pet", flags->pet, "lora or adapter")->capture_default_str();
  sub->add_option("--towers", flags->towers, "image, text or both")->capture_default_str();
  sub->add_option("--out", flags->out_dir, "output folder")->capture_default_str();
  AddRuntimeFlags(sub, &flags->runtime);
  SetCommand(sub, [flags]() -> Status { return RunBenchCl(*flags); });
}

}  // namespace perennial::cli
