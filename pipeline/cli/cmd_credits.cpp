// pipeline/cli/cmd_credits.cpp: `shrike credits balance|history|topup|grant|refund|reverse`:
// an account's credits as its users see them (balance, what running jobs hold, the
// history of charges), and the admin operations that add credits. Users see their own
// and their shared accounts; topup, grant, refund and reverse are for accounting
// admins only (root or accounting.yaml `admins:`, checked against the real uid).
#include <fmt/core.h>

#include <nlohmann/json.hpp>

#include "accounting/account_view.h"
#include "accounting/accounting_context.h"
#include "accounting/credit_service.h"
#include "accounting/ledger_access.h"
#include "pipeline/cli/command_table.h"
#include "pipeline/core/error.h"

namespace shrike::cli {

namespace {

namespace po = boost::program_options;
namespace acc = shrike::accounting;

constexpr const char* kActions = "balance, history, topup, grant, refund or reverse";

CommandSpec credits_spec() {
  CommandSpec spec;
  spec.name = "credits";
  spec.usage =
      "shrike credits balance|history [--account A] [--format table|json]\n"
      "       shrike credits topup|grant|refund --account A --amount X [--memo TEXT] [--key K]   (admins)\n"
      "       shrike credits reverse KEY [--memo TEXT]                                          (admins)";
  spec.description =
      "Credits pay for GPU time: 1 credit = 1 US dollar by default (configs/accounting.yaml), shown with two\n"
      "decimals. A new account starts with the site's free credits. Every submitted job holds its estimated\n"
      "cost; settlement charges what actually ran and releases the rest. `balance` shows what the account\n"
      "has, what running jobs hold and what is free; `history` lists its transactions, newest first.\n"
      "topup (paid credits), grant (promotional credits) and refund (give back a charge) are for accounting\n"
      "admins: root and the users under `admins:` in accounting.yaml. `reverse KEY` undoes a mistaken top-up\n"
      "or grant with a reversing transaction (ledger entries are never edited).";
  spec.options.add_options()
      ("action", po::value<std::string>()->required()->value_name("ACTION"), kActions)
      ("key-arg", po::value<std::string>()->value_name("KEY"), "reverse: the transaction key (positional)")
      ("account,a", po::value<std::string>()->value_name("A"), "the account (default: your user name)")
      ("amount", po::value<std::string>()->value_name("X"), "credits to add, up to six decimals (topup, grant, refund)")
      ("memo", po::value<std::string>()->default_value("")->value_name("TEXT"), "a note kept with the transaction")
      ("key", po::value<std::string>()->default_value("")->value_name("K"),
       "an idempotency key: repeating a top-up with the same key adds the credits once")
      ("limit", po::value<int>()->default_value(20)->value_name("N"), "history: at most N transactions")
      ("format,f", po::value<std::string>()->default_value("table")->value_name("F"), "table or json");
  spec.positional.add("action", 1).add("key-arg", 1);
  spec.epilog =
      "Examples:\n"
      "  shrike credits balance\n"
      "  shrike credits history --account vision-lab --limit 50\n"
      "  sudo shrike credits topup --account alice --amount 100 --memo \"invoice 2026-114\" --key inv-2026-114\n"
      "  shrike credits grant --account bob --amount 25 --memo \"course credits\"";
  return spec;
}

std::string account_of(const po::variables_map& values) {
  return values.count("account") ? values["account"].as<std::string>() : acc::real_caller().user;
}

void print_balance(const std::string& account, const acc::AccountBalances& b, const std::string& format) {
  if (format == "json") {
    fmt::print("{}\n", nlohmann::json{{"account", account}, {"exists", b.exists},
                                      {"balance", acc::format_credits_exact(b.balance())},
                                      {"available", acc::format_credits_exact(b.available)},
                                      {"held", acc::format_credits_exact(b.held)},
                                      {"credited", acc::format_credits_exact(b.credited)}}
                           .dump(2));
    return;
  }
  if (!b.exists) {
    fmt::print("account {}: no ledger entries yet (it opens with the site's free credits at its first job)\n", account);
    return;
  }
  fmt::print("account {}: balance {} credits ({} available, {} held by running jobs)\n", account,
             acc::format_credits(b.balance()), acc::format_credits(b.available), acc::format_credits(b.held));
  if (const auto alert = acc::balance_alert(account)) fmt::print("warning: {}\n", *alert);
}

void print_history(const std::string& account, const std::vector<acc::HistoryRow>& rows, const std::string& format) {
  if (format == "json") {
    nlohmann::json list = nlohmann::json::array();
    for (const auto& r : rows) {
      list.push_back({{"time", r.time}, {"kind", r.kind}, {"key", r.key}, {"memo", r.memo}, {"job_id", r.job_id},
                      {"instance", r.instance}, {"gpu_seconds", r.gpu_seconds},
                      {"wallet_change", acc::format_credits_exact(r.wallet_change)},
                      {"amount", acc::format_credits_exact(r.amount)}});
    }
    fmt::print("{}\n", nlohmann::json{{"account", account}, {"history", list}}.dump(2));
    return;
  }
  fmt::print("{:<20}  {:<8}  {:>10}  {:>10}  {:>9}  {}\n", "time (UTC)", "kind", "amount", "wallet", "GPU-h", "details");
  for (const auto& r : rows) {
    const std::string details = r.job_id.empty() ? r.memo : fmt::format("job {}: {}", r.job_id, r.memo);
    fmt::print("{:<20}  {:<8}  {:>10}  {:>10}  {:>9}  {}  [{}]\n", r.time, r.kind, acc::format_credits(r.amount),
               acc::format_credits(r.wallet_change), r.gpu_seconds ? fmt::format("{:.2f}", r.gpu_seconds / 3600.0) : "",
               details, r.key);
  }
  if (rows.empty()) fmt::print("(no transactions for account {})\n", account);
}

int run_credit_action(const std::string& action, const po::variables_map& values) {
  if (!values.count("account") || !values.count("amount")) {
    fail_user("shrike credits {} needs --account A and --amount X (credits). Run `shrike credits --help`.", action);
  }
  const acc::WalletCredit kind = action == "topup"   ? acc::WalletCredit::topup
                                 : action == "grant" ? acc::WalletCredit::grant
                                                     : acc::WalletCredit::refund;
  const std::string account = values["account"].as<std::string>();
  const acc::Micro amount = acc::parse_credits(values["amount"].as<std::string>(), "--amount");
  const auto outcome = acc::credit_account(kind, account, amount, values["memo"].as<std::string>(),
                                           values["key"].as<std::string>());
  if (!outcome.posted) {
    fmt::print("{} with key '{}' was recorded before: nothing added.\n", action, values["key"].as<std::string>());
  } else {
    fmt::print("{} of {} credits to account {}.\n", action, acc::format_credits(amount), account);
  }
  print_balance(account, outcome.balances, "table");
  return kExitOk;
}

int run_reverse(const po::variables_map& values) {
  if (!values.count("key-arg")) fail_user("shrike credits reverse needs the KEY of the top-up or grant to undo.");
  acc::AccountingContext context;
  if (!context.caller_is_admin()) {
    fail_user("only accounting admins may reverse transactions; user '{}' is not root and not under admins: in "
              "accounting.yaml.", context.caller().user);
  }
  if (!acc::may_write_ledger_directly(context.ledger_path())) {
    fail_user("reverse writes the ledger {} directly: run it as the ledger's owner or root.", context.ledger_path().string());
  }
  acc::Ledger ledger(context.ledger_path(), context.caller().user);
  acc::reverse_credit(ledger, values["key-arg"].as<std::string>(), values["memo"].as<std::string>());
  fmt::print("reversed {}.\n", values["key-arg"].as<std::string>());
  return kExitOk;
}

}  // namespace

int run_credits(const Args& args) {
  CommandSpec spec = credits_spec();
  auto parsed = parse_options(spec, args);
  if (!parsed) return kExitOk;
  const po::variables_map& values = *parsed;
  const std::string format = values["format"].as<std::string>();
  if (format != "table" && format != "json") fail_user("shrike credits: --format {} is not table or json.", format);
  const std::string verb = values["action"].as<std::string>();
  if (verb == "balance") {
    const std::string account = account_of(values);
    print_balance(account, acc::view_balances(account), format);
    return kExitOk;
  }
  if (verb == "history") {
    const std::string account = account_of(values);
    print_history(account, acc::view_history(account, std::max(1, values["limit"].as<int>())), format);
    return kExitOk;
  }
  if (verb == "topup" || verb == "grant" || verb == "refund") return run_credit_action(verb, values);
  if (verb == "reverse") return run_reverse(values);
  fail_user("shrike credits: unknown action '{}'; use {}.", verb, kActions);
}

}  // namespace shrike::cli
