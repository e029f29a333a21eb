// tests/unit/test_label_file.cpp: YOLO label parsing and every bad input the issue names.
#include <gtest/gtest.h>

#include "pipeline/data/label_file.h"
#include "pipeline/data/sample_problem.h"
#include "tests/unit/test_support.h"

namespace shrike::data {
namespace {

// The problem text for `text`, or "" when it parses.
std::string problem_for(const std::string& text, int nc = 3) {
  try {
    parse_label_text(text, "labels/a.txt", nc);
  } catch (const SampleProblem& problem) {
    return problem.kind() + " | " + problem.what();
  }
  return "";
}

TEST(LabelFile, ParsesBoxesAndSkipsBlankLines) {
  auto parsed = parse_label_text("0 0.5 0.5 0.2 0.4\n\n  \n2 0.25 0.75 0.1 0.1\n", "a.txt", 3);
  ASSERT_EQ(parsed.boxes.size(), 2u);
  EXPECT_EQ(parsed.boxes[0], (LabelBox{0, 0.5f, 0.5f, 0.2f, 0.4f}));
  EXPECT_EQ(parsed.boxes[1].class_id, 2);
  EXPECT_EQ(parsed.clipped, 0);
  EXPECT_FALSE(parsed.file_missing);
}

TEST(LabelFile, WindowsLineEndingsAndTabsAreFine) {
  auto parsed = parse_label_text("1\t0.5 0.5 0.2 0.2\r\n0 0.1 0.1 0.1 0.1\r\n", "a.txt", 3);
  EXPECT_EQ(parsed.boxes.size(), 2u);
}

TEST(LabelFile, PolygonBecomesItsBoundingBox) {
  auto parsed = parse_label_text("1 0.1 0.2 0.5 0.2 0.3 0.6\n", "a.txt", 3);
  ASSERT_EQ(parsed.boxes.size(), 1u);
  EXPECT_NEAR(parsed.boxes[0].cx, 0.3, 1e-6);
  EXPECT_NEAR(parsed.boxes[0].cy, 0.4, 1e-6);
  EXPECT_NEAR(parsed.boxes[0].w, 0.4, 1e-6);
  EXPECT_NEAR(parsed.boxes[0].h, 0.4, 1e-6);
}

TEST(LabelFile, DuplicateLinesAreRemovedAndCounted) {
  auto parsed = parse_label_text("0 0.5 0.5 0.2 0.2\n0 0.50 0.5 0.2 0.2\n1 0.5 0.5 0.2 0.2\n", "a.txt", 3);
  EXPECT_EQ(parsed.boxes.size(), 2u);
  EXPECT_EQ(parsed.duplicates_removed, 1);
}

TEST(LabelFile, BoxesReachingOutsideAreClippedAndCounted) {
  auto parsed = parse_label_text("0 0.95 0.5 0.2 0.2\n", "a.txt", 3);
  ASSERT_EQ(parsed.boxes.size(), 1u);
  EXPECT_EQ(parsed.clipped, 1);
  EXPECT_NEAR(parsed.boxes[0].cx + parsed.boxes[0].w / 2, 1.0, 1e-6);
  EXPECT_NEAR(parsed.boxes[0].w, 0.15, 1e-6);
}

TEST(LabelFile, BoxesWithNoAreaAreDroppedAndCounted) {
  auto parsed = parse_label_text("0 0.5 0.5 0 0.2\n0 1.2 0.5 0.2 0.2\n1 0.5 0.5 0.1 0.1\n", "a.txt", 3);
  EXPECT_EQ(parsed.boxes.size(), 1u);
  EXPECT_EQ(parsed.dropped_empty, 2);
}

TEST(LabelFile, WrongColumnCountNamesFileAndLine) {
  std::string problem = problem_for("0 0.5 0.5 0.2 0.2\n0 0.5 0.5 0.2\n");
  EXPECT_NE(problem.find("labels/a.txt:2"), std::string::npos) << problem;
  EXPECT_NE(problem.find("expected 5 columns"), std::string::npos) << problem;
  EXPECT_NE(problem_for("0 0.1 0.1 0.2 0.2 0.3\n").find("found 6"), std::string::npos);
}

TEST(LabelFile, NonNumbersAreNamed) {
  std::string problem = problem_for("0 0.5 abc 0.2 0.2\n");
  EXPECT_NE(problem.find("'abc' is not a number"), std::string::npos) << problem;
  EXPECT_NE(problem_for("0 0.5 nan 0.2 0.2\n").find("not a number"), std::string::npos);
}

TEST(LabelFile, UnknownAndNonIntegerClassesAreProblems) {
  std::string problem = problem_for("7 0.5 0.5 0.2 0.2\n", 3);
  EXPECT_EQ(problem.rfind("unknown class", 0), 0u) << problem;
  EXPECT_NE(problem.find("class 7 is out of range (names has 3 classes"), std::string::npos) << problem;
  EXPECT_NE(problem_for("-1 0.5 0.5 0.2 0.2\n").find("out of range"), std::string::npos);
  EXPECT_NE(problem_for("1.5 0.5 0.5 0.2 0.2\n").find("not an integer"), std::string::npos);
  EXPECT_EQ(problem_for("2.0 0.5 0.5 0.2 0.2\n"), "");  // integral floats are accepted
}

TEST(LabelFile, PixelCoordinatesAreRejected) {
  std::string problem = problem_for("0 320 240 50 60\n");
  EXPECT_NE(problem.find("outside 0..1 (pixels?)"), std::string::npos) << problem;
}

TEST(LabelFile, MissingFileIsABackgroundImage) {
  test::TempDir dir;
  auto parsed = read_label_file((dir / "none.txt").string(), 3);
  EXPECT_TRUE(parsed.file_missing);
  EXPECT_TRUE(parsed.boxes.empty());
  test::write_text(dir / "empty.txt", "");
  auto empty = read_label_file((dir / "empty.txt").string(), 3);
  EXPECT_FALSE(empty.file_missing);
  EXPECT_TRUE(empty.boxes.empty());
}

TEST(LabelFile, LabelPathSwapsTheLastImagesFolder) {
  EXPECT_EQ(label_path_for_image("/d/images/train/a.jpg"), "/d/labels/train/a.txt");
  EXPECT_EQ(label_path_for_image("/images/d/images/x.y.png"), "/images/d/labels/x.y.txt");
  EXPECT_EQ(label_path_for_image("/d/pics/a.jpeg"), "/d/pics/a.txt");
}

}  // namespace
}  // namespace shrike::data
