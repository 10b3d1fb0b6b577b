#include "clients/cli/command.h"

#include <iostream>
#include <map>
#include <utility>

namespace perennial::cli {
namespace {

std::map<const CLI::App*, CommandFn>& Commands() {
  static auto* commands = new std::map<const CLI::App*, CommandFn>();
  return *commands;
}

}  // namespace

void SetCommand(CLI::App* sub, CommandFn fn) { Commands()[sub] = std::move(fn); }

CommandFn* SelectedCommand(CLI::App& app) {
  for (CLI::App* sub : app.get_subcommands()) {
    if (CommandFn* nested = SelectedCommand(*sub)) return nested;
    auto it = Commands().find(sub);
    if (it != Commands().end()) return &it->second;
  }
  return nullptr;
}

int ParseAndRun(CLI::App& app, int argc, char** argv) {
  CLI11_PARSE(app, argc, argv);
  CommandFn* command = SelectedCommand(app);
  if (command == nullptr) {
    std::cerr << app.help() << std::endl;
    return 2;
  }
  const Status status = (*command)();
  if (!status.ok()) {
    std::cerr << "error: " << status.message() << std::endl;
    return 1;
  }
  return 0;
}

void PrintJson(const nlohmann::json& value) { std::cout << value.dump() << std::endl; }

}  // namespace perennial::cli
