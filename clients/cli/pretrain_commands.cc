#include "clients/cli/pretrain_commands.h"

#include <atomic>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <map>
#include <memory>
#include <string>

#include "clients/cli/cli_common.h"
#include "clients/cli/model_command_list.h"
#include "clients/cli/progress_line.h"
#include "learner/model/default_model.h"
#include "learner/model/tokenizer.h"
#include "learner/pretrain/pretrain.h"
#include "learner/pretrain/probe_eval.h"

namespace perennial::cli {
namespace {

std::atomic<bool> g_interrupted{false};

void OnInterrupt(int) { g_interrupted = true; }

nlohmann::json ProbesJson(const std::vector<ProbeAccuracy>& probes) {
  nlohmann::json out = nlohmann::json::array();
  for (const ProbeAccuracy& a : probes) {
    out.push_back({{"task", a.task},
                   {"accuracy", a.accuracy},
                   {"chance", a.chance},
                   {"labels", a.num_labels},
                   {"samples", a.samples}});
  }
  return out;
}

std::string Duration(double seconds) {
  const long s = static_cast<long>(seconds + 0.5);
  char buffer[32];
  std::snprintf(buffer, sizeof(buffer), "%ld:%02ld:%02ld", s / 3600, s / 60 % 60, s % 60);
  return buffer;
}

// A one-line progress bar on stderr (redrawn in place on a terminal, a line every 10 s
// elsewhere: ProgressLine); evaluations and checkpoints get lines of their own.
class ProgressBar {
 public:
  bool Update(const PretrainProgress& p) {
    const bool event = p.probes != nullptr || !p.checkpoint_written.empty();
    line_.Update(Text(p), event || p.step == p.total_steps);
    if (p.probes != nullptr) {
      line_.Message("  step " + std::to_string(p.step) +
                    " zero-shot: " + FormatProbeAccuracies(*p.probes));
    }
    if (!p.checkpoint_written.empty() && p.probes == nullptr) {
      line_.Message("  checkpoint: " + p.checkpoint_written);
    }
    if (g_interrupted) line_.Message("interrupted: saving a checkpoint and stopping");
    return !g_interrupted;
  }
  void Finish() { line_.Finish(); }

 private:
  static std::string Text(const PretrainProgress& p) {
    constexpr int kWidth = 24;
    const double fraction = static_cast<double>(p.step) / static_cast<double>(p.total_steps);
    const int filled = static_cast<int>(fraction * kWidth);
    std::string bar(static_cast<size_t>(filled), '#');
    bar.resize(kWidth, '.');
    char text[256];
    std::snprintf(text, sizeof(text),
                  "[%s] %lld/%lld  %.0f samples/s  loss %.4f  lr %.2e  scale %.1f  "
                  "elapsed %s  eta %s",
                  bar.c_str(), static_cast<long long>(p.step),
                  static_cast<long long>(p.total_steps), p.samples_per_second, p.loss,
                  p.learning_rate, p.logit_scale, Duration(p.elapsed_seconds).c_str(),
                  Duration(p.eta_seconds).c_str());
    return text;
  }

  ProgressLine line_;
};

struct PretrainFlags {
  PretrainOptions options;
  std::string checkpoint;
  int threads = 0;
};

std::string DefaultCheckpointPath(const std::string& out) {
  const std::string suffix = ".safetensors";
  std::string stem = out;
  if (stem.size() > suffix.size() &&
      stem.compare(stem.size() - suffix.size(), suffix.size(), suffix) == 0) {
    stem.resize(stem.size() - suffix.size());
  }
  return stem + ".checkpoint.safetensors";
}

// The knobs of what the model is shown (the synthetic world's batch mix and the loss's
// positives); the defaults train the shipped model, whose card spells them out.
void AddPretrainDataFlags(CLI::App* sub, PretrainOptions& o) {
  sub->add_option("--positives", o.all_true_captions_positive,
                  "an image's positives in the loss: its own caption, or every caption in the "
                  "batch true of it")
      ->transform(
          CLI::CheckedTransformer(std::map<std::string, bool>{{"own", false}, {"all-true", true}}))
      ->type_name("own|all-true")
      ->default_str("all-true");
  sub->add_option("--shape-captions", o.world.shape_only_captions_need_fixed_colour,
                  "where shape-only captions are drawn: everywhere, or only in colour-fixed "
                  "batches (no colour prior on shape words)")
      ->transform(CLI::CheckedTransformer(
          std::map<std::string, bool>{{"everywhere", false}, {"colour-fixed", true}}))
      ->type_name("everywhere|colour-fixed")
      ->default_str("colour-fixed");
  sub->add_option("--hard-negatives", o.world.hard_negative_fraction,
                  "fraction of batches that hold colour (or shape) fixed")
      ->capture_default_str()
      ->check(CLI::Range(0.0, 1.0));
  sub->add_option("--position-batches", o.world.position_batch_fraction,
                  "fraction of batches where only the position varies (captions name it)")
      ->capture_default_str()
      ->check(CLI::Range(0.0, 1.0));
  sub->add_option("--colour-fixed-share", o.world.colour_fixed_share,
                  "share of the hard-negative batches that fix the colour (the rest fix the shape)")
      ->capture_default_str()
      ->check(CLI::Range(0.0, 1.0));
}

void AddPretrain(CLI::App& app) {
  auto flags = std::make_shared<PretrainFlags>();
  PretrainOptions& o = flags->options;
  o.output_path = "models/perennial-tiny-clip.safetensors";
  CLI::App* sub = app.add_subcommand("pretrain", ModelCommandDescription("pretrain"));
  sub->add_option("--out", o.output_path,
                  "where to write the final model (OpenAI-layout safetensors)")
      ->capture_default_str();
  sub->add_option("--steps", o.steps, "optimizer steps in the run")
      ->capture_default_str()
      ->check(CLI::PositiveNumber);
  sub->add_option("--batch", o.batch_size, "image-caption pairs per step")
      ->capture_default_str()
      ->check(CLI::Range(2, 1 << 16));
  sub->add_option("--seed", o.seed, "seed of the initial weights and of the synthetic world")
      ->capture_default_str();
  sub->add_option("--lr", o.learning_rate, "peak learning rate")->capture_default_str();
  sub->add_option("--warmup", o.warmup_steps, "linear warmup steps")->capture_default_str();
  sub->add_option("--hold", o.hold_fraction,
                  "fraction of the post-warmup steps held at the peak learning rate")
      ->capture_default_str();
  sub->add_option("--weight-decay", o.weight_decay, "AdamW decoupled weight decay (matrices only)")
      ->capture_default_str();
  sub->add_option("--threads", flags->threads, "LibTorch CPU threads (0: one per core)")
      ->capture_default_str()
      ->check(CLI::NonNegativeNumber);
  sub->add_option("--resume", o.resume_path,
                  "continue from this checkpoint (same seed, batch and architecture)");
  sub->add_option("--checkpoint", flags->checkpoint,
                  "checkpoint file (default: <out without .safetensors>.checkpoint.safetensors)");
  sub->add_option("--checkpoint-every", o.checkpoint_every,
                  "write the checkpoint every N steps (0: only at the end or on Ctrl-C)")
      ->capture_default_str()
      ->check(CLI::NonNegativeNumber);
  sub->add_option("--eval-every", o.eval_every,
                  "zero-shot probe evaluation every N steps (0: only at the end)")
      ->capture_default_str()
      ->check(CLI::NonNegativeNumber);
  sub->add_option("--eval-samples", o.eval_samples, "probe images per task in evaluations")
      ->capture_default_str()
      ->check(CLI::PositiveNumber);
  AddPretrainDataFlags(sub, o);
  SetCommand(sub, [flags]() -> Status {
    PretrainOptions options = flags->options;
    options.checkpoint_path =
        flags->checkpoint.empty() ? DefaultCheckpointPath(options.output_path) : flags->checkpoint;
    RuntimeFlags runtime;
    runtime.threads = flags->threads;
    PERENNIAL_RETURN_IF_ERROR(ApplyRuntimeFlags(runtime).status());
    std::fprintf(stderr, "pretraining %s for %lld steps of %d on %d threads -> %s\n",
                 options.model.ToString().c_str(), static_cast<long long>(options.steps),
                 options.batch_size, torch::get_num_threads(), options.output_path.c_str());
    std::signal(SIGINT, OnInterrupt);
    ProgressBar bar;
    StatusOr<PretrainResult> result =
        RunPretraining(options, [&bar](const PretrainProgress& p) { return bar.Update(p); });
    std::signal(SIGINT, SIG_DFL);
    bar.Finish();
    PERENNIAL_RETURN_IF_ERROR(result.status());
    PrintJson({{"completed", result->completed},
               {"steps", result->steps_done},
               {"first_step", result->first_step},
               {"seconds", result->seconds},
               {"last_loss", result->last_loss},
               {"model", result->completed ? options.output_path : ""},
               {"checkpoint", options.checkpoint_path},
               {"config", result->config.ToString()},
               {"probes", ProbesJson(result->probes)}});
    return OkStatus();
  });
}

struct EvalFlags {
  std::string model;
  ProbeEvalOptions eval;
  RuntimeFlags runtime;
};

void AddEvalZeroShot(CLI::App& app) {
  auto flags = std::make_shared<EvalFlags>();
  flags->eval.samples_per_task = 500;
  CLI::App* sub = app.add_subcommand("eval-zero-shot", ModelCommandDescription("eval-zero-shot"));
  AddModelFlag(sub, &flags->model);
  sub->add_option("--samples", flags->eval.samples_per_task, "probe images per task")
      ->capture_default_str()
      ->check(CLI::PositiveNumber);
  sub->add_option("--seed", flags->eval.seed, "probe world seed")->capture_default_str();
  sub->add_option("--background", flags->eval.background_level,
                  "probe backgrounds: 0 plain, 1 + gradients and noise, 2 + stripes and checkers")
      ->capture_default_str()
      ->check(CLI::Range(0, 2));
  sub->add_flag_function(
      "--seen-combinations",
      [flags](int64_t) { flags->eval.combinations = ProbeCombinations::kSeen; },
      "probe attribute combinations pretraining showed instead of held-out ones (a diagnostic:\n"
      "high here and low held-out means the model learned the attribute but binds it to the\n"
      "combinations it saw)");
  AddRuntimeFlags(sub, &flags->runtime);
  SetCommand(sub, [flags]() -> Status {
    PERENNIAL_ASSIGN_OR_RETURN(std::string path, ResolveModelPath(flags->model));
    PERENNIAL_ASSIGN_OR_RETURN(ClipModel model, LoadModel(path, flags->runtime));
    PERENNIAL_ASSIGN_OR_RETURN(Tokenizer tokenizer, Tokenizer::LoadDefault());
    const auto start = std::chrono::steady_clock::now();
    PERENNIAL_ASSIGN_OR_RETURN(std::vector<ProbeAccuracy> probes,
                               EvaluateZeroShotProbes(model, tokenizer, flags->eval));
    const double seconds =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    PrintJson({{"model", path},
               {"samples_per_task", flags->eval.samples_per_task},
               {"seed", flags->eval.seed},
               {"background_level", flags->eval.background_level},
               {"combinations",
                flags->eval.combinations == ProbeCombinations::kSeen ? "seen" : "held-out"},
               {"seconds", seconds},
               {"probes", ProbesJson(probes)}});
    return OkStatus();
  });
}

}  // namespace

void AddPretrainCommands(CLI::App& app) {
  AddPretrain(app);
  AddEvalZeroShot(app);
}

}  // namespace perennial::cli
