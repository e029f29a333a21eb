// pipeline/cli/main.cpp: the `shrike` executable. Everything happens in run_cli.
#include "pipeline/cli/command_table.h"

int main(int argc, char** argv) { return shrike::cli::run_cli(argc, argv); }
