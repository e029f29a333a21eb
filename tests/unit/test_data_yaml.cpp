// tests/unit/test_data_yaml.cpp: the data.yaml forms users have, listing images, and
// the errors for bad descriptions (each naming file, line and key).
#include <gtest/gtest.h>

#include "pipeline/core/error.h"
#include "pipeline/data/data_yaml.h"
#include "pipeline/data/dataset_listing.h"
#include "tests/unit/test_support.h"

namespace shrike::data {
namespace {

namespace fs = std::filesystem;

std::string error_for(const fs::path& yaml) {
  try {
    load_data_yaml(yaml);
  } catch (const UserError& error) {
    return error.what();
  }
  return "";
}

// d/images/{train,val}/..., d/labels/...
void make_tree(const fs::path& d) {
  for (const char* f : {"images/train/b.jpg", "images/train/a.jpg", "images/train/sub/c.png", "images/val/v.jpg"}) {
    test::write_text(d / f, "x");
  }
  test::write_text(d / "images/train/notes.md", "not an image");
  test::write_text(d / "labels/train/a.txt", "0 0.5 0.5 0.1 0.1\n");
  test::write_text(d / "labels/train/orphan.txt", "0 0.5 0.5 0.1 0.1\n1 0.2 0.2 0.1 0.1\n");
}

TEST(DataYaml, FolderFormWithNamesList) {
  test::TempDir dir;
  make_tree(dir.path());
  test::write_text(dir / "data.yaml", "path: .\ntrain: images/train\nval: images/val\nnames: [cat, dog]\n");
  DataYaml data = load_data_yaml(dir / "data.yaml");
  EXPECT_EQ(data.names, (std::vector<std::string>{"cat", "dog"}));
  EXPECT_EQ(data.root, dir.path());
  ASSERT_EQ(data.splits.size(), 2u);
  SplitListing train = list_split_images(data, "train");
  ASSERT_EQ(train.images.size(), 3u);  // recursive, sorted
  EXPECT_EQ(train.images[0], (dir / "images/train/a.jpg").string());
  EXPECT_EQ(train.images[2], (dir / "images/train/sub/c.png").string());
  EXPECT_EQ(train.non_image_files, 1u);
  OrphanLabels orphans = find_orphan_labels(train);
  EXPECT_EQ(orphans.count, 1u);
  EXPECT_EQ(orphans.lines, 2u);
}

TEST(DataYaml, PathDefaultsToTheYamlFolderAndNamesMayBeAMap) {
  test::TempDir dir;
  make_tree(dir / "set");
  test::write_text(dir / "set/data.yaml", "train: images/train\nnames:\n  0: cat\n  1: dog\n  2: cow\nnc: 3\n");
  DataYaml data = load_data_yaml(dir / "set/data.yaml");
  EXPECT_EQ(data.names.size(), 3u);
  EXPECT_EQ(data.names[2], "cow");
  EXPECT_EQ(data.root, dir / "set");
}

TEST(DataYaml, ListOfFoldersAndTxtLists) {
  test::TempDir dir;
  make_tree(dir.path());
  test::write_text(dir / "lists/val.txt",
                   "../images/val/v.jpg\n" + (dir / "images/train/a.jpg").string() + "\n\n../images/val/missing.jpg\n");
  test::write_text(dir / "data.yaml",
                   "path: " + dir.path().string() + "\ntrain: [images/train, images/val]\nval: lists/val.txt\nnames: [a]\n");
  DataYaml data = load_data_yaml(dir / "data.yaml");
  EXPECT_EQ(list_split_images(data, "train").images.size(), 4u);
  SplitListing val = list_split_images(data, "val");
  ASSERT_EQ(val.images.size(), 2u);
  EXPECT_EQ(val.images[0], (dir / "images/val/v.jpg").string());
  ASSERT_EQ(val.missing.size(), 1u);
  EXPECT_NE(val.missing[0].where.find("val.txt:4"), std::string::npos);
}

TEST(DataYaml, MissingSplitFolderNamesLineKeyAndResolution) {
  test::TempDir dir;
  test::write_text(dir / "data.yaml", "path: .\nnames: [a]\ntrain: images/train2017\n");
  std::string error = error_for(dir / "data.yaml");
  EXPECT_NE(error.find("line 3"), std::string::npos) << error;
  EXPECT_NE(error.find("'train' points to images/train2017, which does not exist"), std::string::npos) << error;
  EXPECT_NE(error.find("resolved against " + dir.path().string()), std::string::npos) << error;
}

TEST(DataYaml, BadDescriptionsAreClearErrors) {
  test::TempDir dir;
  make_tree(dir.path());
  auto check = [&](const std::string& yaml, const std::string& expected) {
    test::write_text(dir / "d.yaml", yaml);
    std::string error = error_for(dir / "d.yaml");
    EXPECT_NE(error.find(expected), std::string::npos) << "yaml:\n" << yaml << "\nerror: " << error;
  };
  check("train: images/train\n", "'names' key is missing");
  check("train: images/train\nnames: [a, b]\nnc: 3\n", "'nc' is 3 but 'names' lists 2");
  check("train: images/train\nnames:\n  0: a\n  2: b\n", "line 4: 'names' has class 2 where 1 was expected");
  check("train: images/train\nnames: [a\n", "not valid YAML");
  check("names: [a]\n", "no 'train', 'val' or 'test' key");
  check("train: images/train/a.jpg\nnames: [a]\n", "neither a folder nor a .txt list");
  check("path: nowhere\ntrain: images/train\nnames: [a]\n", "'path' points to");
  check("- just\n- a list\n", "expected a YAML mapping");
  EXPECT_NE(error_for(dir / "absent.yaml").find("does not exist"), std::string::npos);
}

TEST(DataYaml, UnknownSplitIsAnError) {
  test::TempDir dir;
  make_tree(dir.path());
  test::write_text(dir / "d.yaml", "train: images/train\nnames: [a]\n");
  DataYaml data = load_data_yaml(dir / "d.yaml");
  EXPECT_THROW(list_split_images(data, "val"), UserError);
}

TEST(DataYaml, Coco128AsShipped) {
  fs::path yaml = fs::path(SHRIKE_COCO128) / "coco128.yaml";
  if (!fs::exists(yaml)) GTEST_SKIP() << "coco128 not found at " << yaml;
  DataYaml data = load_data_yaml(yaml);
  EXPECT_EQ(data.names.size(), 80u);
  SplitListing train = list_split_images(data, "train");
  EXPECT_EQ(train.images.size(), 128u);
  OrphanLabels orphans = find_orphan_labels(train);
  EXPECT_EQ(orphans.count, 2u);   // 000000000656.txt, 000000000659.txt
  EXPECT_EQ(orphans.lines, 12u);  // 941 label lines - 929 boxes
}

}  // namespace
}  // namespace shrike::data
