using Microsoft.EntityFrameworkCore.Migrations;

#nullable disable

namespace KnowPay.Data.Migrations.Postgres
{
    /// <inheritdoc />
    public partial class ListIndexes : Migration
    {
        /// <inheritdoc />
        protected override void Up(MigrationBuilder migrationBuilder)
        {
            migrationBuilder.CreateIndex(
                name: "ix_products_merchant_id_creator_id_id",
                table: "products",
                columns: new[] { "merchant_id", "creator_id", "id" });

            migrationBuilder.CreateIndex(
                name: "ix_payments_merchant_id_id",
                table: "payments",
                columns: new[] { "merchant_id", "id" });

            migrationBuilder.CreateIndex(
                name: "ix_customers_merchant_id_id",
                table: "customers",
                columns: new[] { "merchant_id", "id" });
        }

        /// <inheritdoc />
        protected override void Down(MigrationBuilder migrationBuilder)
        {
            migrationBuilder.DropIndex(
                name: "ix_products_merchant_id_creator_id_id",
                table: "products");

            migrationBuilder.DropIndex(
                name: "ix_payments_merchant_id_id",
                table: "payments");

            migrationBuilder.DropIndex(
                name: "ix_customers_merchant_id_id",
                table: "customers");
        }
    }
}
